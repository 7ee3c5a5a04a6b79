//! The `stowage` command: `serve`, `worker`, `migrate`, `namespaces create`, `keys create`, and the
//! client commands `upload`, `buckets create`, `uploads get`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use stowage_domain::auth::Role;
use stowage_domain::names::NamespaceName;

use stowage_domain::usecases::tenancy;
use stowage_server::cli::{self, Connection, say};
use stowage_server::{Application, Settings, telemetry};

/// Direct-to-S3 uploads, verified.
#[derive(Parser)]
#[command(name = "stowage", version)]
struct Cli {
    /// A TOML configuration file; environment variables `STOWAGE__SECTION__KEY` override it.
    #[arg(long, short, global = true, env = "STOWAGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, with task workers in the same process (unless `worker.enabled = false`).
    Serve,
    /// Run task workers only.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage namespaces.
    Namespaces {
        #[command(subcommand)]
        command: NamespaceCommand,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Upload files to a running server: hash, create, transfer with progress, confirm, wait.
    Upload {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The bucket (id or name).
        #[arg(long, short)]
        bucket: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Buckets of a running server.
    Buckets {
        #[command(subcommand)]
        command: BucketCommand,
    },
    /// Uploads of a running server.
    Uploads {
        #[command(subcommand)]
        command: UploadCommand,
    },
    /// Apply to the configured S3 bucket the CORS rules browser uploads need: the origins may GET,
    /// PUT and POST with any header and read `ETag` and `Location` (docs/browser.md).
    StorageCors {
        /// Allowed origins (`https://app.example.com`); default: `browser.cors_allowed_origins`.
        origins: Vec<String>,
    },
    /// Exit 0 when a server answers `GET /healthz` with 200 (a container's HEALTHCHECK: the
    /// image has no curl).
    Healthcheck {
        /// The server's base URL.
        #[arg(long, env = "STOWAGE_URL", default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Create a bucket and print its id.
    Create {
        /// Its name.
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Subcommand)]
enum UploadCommand {
    /// Print an upload as JSON.
    Get {
        /// The upload id (`upl_...`).
        id: String,
        /// Its bucket; searched for when omitted.
        #[arg(long, short)]
        bucket: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Subcommand)]
enum NamespaceCommand {
    /// Create a namespace and print its id.
    Create {
        /// Its name.
        name: String,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key and print its secret (shown once; only a hash is stored).
    Create {
        /// The namespace (id or name) the key acts in; for an operator key, the one requests
        /// without `X-Namespace` act in.
        #[arg(long, required_unless_present = "all_namespaces")]
        namespace: Option<String>,
        /// read, write or admin.
        #[arg(long, default_value = "write")]
        role: String,
        /// An operator key: acts in every namespace (requests name one with `X-Namespace`;
        /// without it, `--namespace`, by default `default`); as admin it may create namespaces.
        #[arg(long)]
        all_namespaces: bool,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
    },
    /// List API keys (never their secrets): id, role, scope, created, last used, revoked.
    List {
        /// Only the keys acting in this namespace (id or name).
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Revoke an API key; it stops working within `server.key_cache_ttl_secs`.
    Revoke {
        /// The key's id (`key_...`).
        key_id: String,
    },
}

async fn run(cli: Cli) -> Result<(), String> {
    // Client commands need no server configuration.
    match &cli.command {
        Command::Upload { files, bucket, connection } => return cli::upload(connection, bucket, files).await,
        Command::Buckets { command: BucketCommand::Create { name, connection } } => {
            return cli::create_bucket(connection, name).await;
        }
        Command::Uploads { command: UploadCommand::Get { id, bucket, connection } } => {
            return cli::get_upload(connection, id, bucket.as_deref()).await;
        }
        Command::Healthcheck { url } => return cli::healthcheck(url).await,
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    match cli.command {
        Command::Serve => {
            let embedded = settings.is_embedded();
            let data_dir = settings.data_dir.clone();
            let app = Application::build(settings.clone()).await?;
            say(&format!("stowage listening on {}", app.public_url()));
            say(&describe_storage(&settings));
            if embedded {
                let secret = stowage_server::keys::bootstrap(app.ports().deps(), &data_dir).await?;
                if let Some(secret) = secret {
                    let file = stowage_server::keys::admin_key_file(&data_dir);
                    say(&format!(
                        "first start: created the `default` namespace and its admin key (also in {}, mode 0600):\n{secret}",
                        file.display()
                    ));
                }
            }
            app.run_until_stopped().await.map_err(|e| e.to_string())
        }
        Command::Worker => {
            let ports = stowage_server::app::ports(&settings).await?;
            let workers = stowage_server::worker::Workers::start(ports, &settings.worker);
            tracing::info!(concurrency = settings.worker.concurrency, "workers running");
            shutdown_signal().await;
            workers.shutdown().await;
            Ok(())
        }
        Command::Migrate => {
            stowage_server::app::ports(&settings).await?;
            say("database migrated");
            Ok(())
        }
        Command::Namespaces { command: NamespaceCommand::Create { name, description } } => {
            let ports = stowage_server::app::ports(&settings).await?;
            let name = NamespaceName::parse(&name).map_err(|e| e.to_string())?;
            let ns = tenancy::create_namespace(ports.deps(), name, description).await.map_err(|e| e.to_string())?;
            say(&format!("{}\t{}", ns.id, ns.name));
            Ok(())
        }
        Command::Keys { command } => keys_command(&settings, command).await,
        Command::StorageCors { origins } => {
            if settings.storage_backend != stowage_server::config::StorageBackend::S3 {
                return Err(
                    "storage-cors applies to an S3 bucket; the local-disk store follows browser.cors_allowed_origins"
                        .to_owned(),
                );
            }
            let origins = if origins.is_empty() { settings.browser.cors_allowed_origins.clone() } else { origins };
            if origins.is_empty() {
                return Err("name the origins, or set browser.cors_allowed_origins".to_owned());
            }
            let store = stowage_s3::S3ObjectStore::new(settings.storage.clone()).await;
            store.apply_browser_cors(&origins).await.map_err(|e| e.to_string())?;
            say(&format!("bucket {}: CORS allows {}", settings.storage.bucket, origins.join(", ")));
            Ok(())
        }
        Command::Upload { .. } | Command::Buckets { .. } | Command::Uploads { .. } | Command::Healthcheck { .. } => {
            Ok(())
        }
    }
}

async fn keys_command(settings: &Settings, command: KeyCommand) -> Result<(), String> {
    let ports = stowage_server::app::ports(settings).await?;
    let find_namespace = async |wanted: &str| {
        ports
            .tenancy
            .find_namespace(wanted)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no namespace `{wanted}`"))
    };
    match command {
        KeyCommand::Create { namespace, role, all_namespaces, description } => {
            let role = Role::parse(&role).ok_or_else(|| format!("unknown role `{role}`: use read, write or admin"))?;
            let ns = find_namespace(namespace.as_deref().unwrap_or("default")).await?;
            let (key, secret) =
                stowage_server::keys::create_scoped_key(ports.deps(), &ns, role, all_namespaces, description)
                    .await
                    .map_err(|e| e.to_string())?;
            let scope = if all_namespaces { "every namespace".to_owned() } else { ns.name.to_string() };
            eprintln!("created {} ({} in {scope}); the secret is shown only now:", key.id, role.as_str());
            say(&secret);
        }
        KeyCommand::List { namespace } => {
            let ns = match namespace {
                Some(wanted) => Some(find_namespace(&wanted).await?),
                None => None,
            };
            let keys = ports.keys.list_api_keys(ns.map(|n| n.id)).await.map_err(|e| e.to_string())?;
            say("KEY_ID\tROLE\tSCOPE\tCREATED\tLAST_USED\tREVOKED\tDESCRIPTION");
            let when = |t: Option<time::OffsetDateTime>| t.map_or_else(|| "-".to_owned(), stowage_server::cli::rfc3339);
            for key in keys {
                let scope = if key.all_namespaces {
                    "all-namespaces".to_owned()
                } else {
                    key.namespaces.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
                };
                say(&format!(
                    "{}\t{}\t{scope}\t{}\t{}\t{}\t{}",
                    key.id,
                    key.role.as_str(),
                    stowage_server::cli::rfc3339(key.created_at),
                    when(key.last_used_at),
                    when(key.revoked_at),
                    key.description.unwrap_or_default()
                ));
            }
        }
        KeyCommand::Revoke { key_id } => {
            let id = stowage_domain::ids::KeyId::parse(&key_id).map_err(|e| e.to_string())?;
            let key = ports
                .keys
                .revoke_api_key(&id, ports.clock.now())
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no key `{key_id}`"))?;
            say(&format!("revoked {}", key.id));
        }
    }
    Ok(())
}

/// Where the state and the bytes live, for the start-up banner.
fn describe_storage(settings: &Settings) -> String {
    use stowage_server::config::{DatabaseBackend, StorageBackend};
    let database = match settings.database_backend {
        DatabaseBackend::Sqlite => format!("SQLite at {}", settings.sqlite_path().display()),
        DatabaseBackend::Postgres => "PostgreSQL ([database] url)".to_owned(),
    };
    let objects = match settings.storage_backend {
        StorageBackend::Disk => format!("objects on local disk in {}", settings.data_dir.join("objects").display()),
        StorageBackend::S3 => format!("objects in S3 bucket `{}`", settings.storage.bucket),
    };
    format!("state: {database}; {objects}")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stowage: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stowage: {e}");
            ExitCode::FAILURE
        }
    }
}
