//! The client commands of the `stowage` binary: `upload`, `buckets create`, `uploads get`,
//! `healthcheck`. They talk to a running server over HTTP, like any other client.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use stowage_client::{Client, ClientError, Options, Progress};

/// Where the server is and which key to use.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, env = "STOWAGE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key (`sk_...`); defaults to the bootstrap admin key in the data directory.
    #[arg(long, env = "STOWAGE_API_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// The namespace to act in (for keys that may act in several).
    #[arg(long, env = "STOWAGE_NAMESPACE")]
    pub namespace: Option<String>,
}

impl Connection {
    fn client(&self) -> Result<Client, String> {
        let key = match &self.key {
            Some(key) => key.clone(),
            None => {
                let dir = std::env::var_os("STOWAGE__DATA_DIR")
                    .map_or_else(|| crate::config::Settings::default().data_dir, PathBuf::from);
                let file = crate::keys::admin_key_file(&dir);
                std::fs::read_to_string(&file).map(|k| k.trim().to_owned()).map_err(|_| {
                    format!("no API key: pass --key or set STOWAGE_API_KEY (no key file at {})", file.display())
                })?
            }
        };
        Client::new(&self.url, &key, self.namespace.clone(), Options::default()).map_err(|e| e.to_string())
    }
}

/// A progress bar on stderr: bytes, rate and ETA while hashing and sending, a spinner while the
/// server verifies. Drawn only when stderr is a terminal.
struct Bar {
    bar: ProgressBar,
    name: String,
}

impl Bar {
    fn new(name: String) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        Self { bar, name }
    }

    fn bytes_style(&self, verb: &str) {
        let template =
            format!("{verb:>9} {{msg}} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}} ETA {{eta}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.set_message(self.name.clone());
    }
}

impl Progress for Bar {
    fn hashing(&self, total: u64) {
        self.bytes_style("hashing");
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    fn transferring(&self, total: u64) {
        self.bytes_style("uploading");
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.reset_eta();
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn rewind(&self, n: u64) {
        self.bar.set_position(self.bar.position().saturating_sub(n));
    }

    fn waiting(&self, task_id: &str) {
        if let Ok(style) = ProgressStyle::with_template("{spinner} verifying {msg}") {
            self.bar.set_style(style);
        }
        self.bar.set_message(format!("{} (task {task_id})", self.name));
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A time as RFC 3339, for command output.
#[must_use]
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Prints a line of a command's output. A closed stdout (a supervisor that went away, `| head`)
/// is ignored: `println!` would panic with a broken pipe, and for `serve` that would take the
/// whole server down.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn human(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

/// `stowage upload FILE... --bucket NAME`: every file in turn; the exit status says whether all
/// of them made it.
///
/// # Errors
/// A summary when a file failed (each failure is reported as it happens).
pub async fn upload(connection: &Connection, bucket: &str, files: &[PathBuf]) -> Result<(), String> {
    let client = connection.client()?;
    let mut failed = 0;
    for file in files {
        let name = file.display().to_string();
        let bar = Arc::new(Bar::new(name.clone()));
        match client.upload_file(file, bucket, bar.clone()).await {
            Ok(done) => {
                let object = done.object_id.as_deref().unwrap_or("no object");
                if done.duplicate {
                    say(&format!(
                        "{name}: {object} (duplicate of {}; already stored, nothing transferred)",
                        done.upload["duplicate_of_upload_id"].as_str().unwrap_or(&done.upload_id)
                    ));
                } else {
                    say(&format!(
                        "{name}: {object} (upload {}, {}, sha256 {})",
                        done.upload_id,
                        human(done.size),
                        done.sha256
                    ));
                }
            }
            Err(e) => {
                bar.finish();
                failed += 1;
                eprintln!("stowage: {name}: {}", explain(&e, &connection.url));
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(format!("{n} of {} file(s) not uploaded", files.len())),
    }
}

/// The error, with what to do about it when that is clear.
fn explain(e: &ClientError, url: &str) -> String {
    match e {
        ClientError::Unreachable { .. } => format!("{e} (is `stowage serve` running at {url}? see --url)"),
        ClientError::Api { status: 401, .. } => format!("{e} (check --key / STOWAGE_API_KEY)"),
        ClientError::Api { code, .. } if code == stowage_domain::error::codes::BUCKET_NOT_FOUND => {
            format!("{e} (create it with `stowage buckets create NAME`)")
        }
        _ => e.to_string(),
    }
}

/// `stowage buckets create NAME`.
///
/// # Errors
/// The server's refusal, or an unreachable server.
pub async fn create_bucket(connection: &Connection, name: &str) -> Result<(), String> {
    let client = connection.client()?;
    let bucket = client.create_bucket(name).await.map_err(|e| explain(&e, &connection.url))?;
    say(&format!("{}\t{}", bucket["bucket_id"].as_str().unwrap_or_default(), name));
    Ok(())
}

/// `stowage healthcheck [--url URL]`: succeeds when `GET {url}/healthz` answers 200 within 5 s.
///
/// # Errors
/// Another status, or no answer in time.
pub async fn healthcheck(url: &str) -> Result<(), String> {
    let url = format!("{}/healthz", url.trim_end_matches('/'));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().map_err(|e| e.to_string())?;
    let response = client.get(&url).send().await.map_err(|e| format!("{url}: {e}"))?;
    if response.status() == reqwest::StatusCode::OK { Ok(()) } else { Err(format!("{url}: {}", response.status())) }
}

/// `stowage uploads get ID [--bucket NAME]`: prints the upload as JSON. Without a bucket, the
/// buckets of the namespace are searched (upload ids are unique across them).
///
/// # Errors
/// Not found, or an unreachable server.
pub async fn get_upload(connection: &Connection, id: &str, bucket: Option<&str>) -> Result<(), String> {
    let client = connection.client()?;
    let explain = |e: ClientError| explain(&e, &connection.url);
    let upload = match bucket {
        Some(bucket) => client.get_upload(bucket, id).await.map_err(explain)?,
        None => {
            let mut found = None;
            for bucket in client.list_buckets().await.map_err(explain)? {
                match client.get_upload(&bucket, id).await {
                    Ok(upload) => {
                        found = Some(upload);
                        break;
                    }
                    Err(ClientError::Api { status: 404, .. }) => {}
                    Err(e) => return Err(explain(e)),
                }
            }
            found.ok_or_else(|| format!("no upload {id} in any bucket of the namespace"))?
        }
    };
    say(&serde_json::to_string_pretty(&upload).unwrap_or_default());
    Ok(())
}
