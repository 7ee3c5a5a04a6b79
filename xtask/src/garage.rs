//! Garage, the S3-compatible server the storage tests run against: installed once into the tools
//! cache (pinned version), started per test run on free ports in a scratch directory,
//! bootstrapped as a single node with one access key, and stopped when the run ends. Tests find
//! it through the `STOWAGE_TEST_S3_*` environment variables; when those are already set, that
//! server is reused and nothing is started.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VERSION: &str = "2.5.0";
/// The single access key the tests use (Garage key ids are `GK` + 24 hex characters).
pub const ACCESS_KEY: &str = "GK5706e2d9bf2aa7b0b9f0cbd1";
pub const SECRET_KEY: &str = "9d4d52c3d48e1b0f0c8a2bba8c5cd1f2dc2e2d71b09f6a1e2b3c4d5e6f708192";
pub const REGION: &str = "garage";

/// A running Garage; stopped and its data removed on drop.
pub struct Garage {
    child: Child,
    dir: PathBuf,
    binary: PathBuf,
    config: PathBuf,
    pub endpoint: String,
}

impl Garage {
    /// Creates a bucket the test key owns (for running stowage by hand against this server).
    pub fn create_bucket(&self, name: &str) -> Result<(), String> {
        garage(&self.binary, &self.config, &["bucket", "create", name])?;
        garage(
            &self.binary,
            &self.config,
            &["bucket", "allow", "--read", "--write", "--owner", name, "--key", ACCESS_KEY],
        )
        .map(drop)
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn garage(binary: &Path, config: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(binary)
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run garage: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("garage {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)))
    }
}

/// The pinned Garage binary, installed into the tools cache once.
pub fn binary() -> Result<PathBuf, String> {
    crate::services::ensure_tool("garage", &["garage", "--version", VERSION])
}

/// Runs `step` on `given`, or on a Garage started for it and stopped when it ends.
pub fn given_or_started<T>(
    given: Option<&Garage>,
    step: impl FnOnce(&Garage) -> Result<T, String>,
) -> Result<T, String> {
    match given {
        Some(garage) => step(garage),
        None => step(&start()?),
    }
}

/// Installs (once) and starts a bootstrapped single-node Garage.
pub fn start() -> Result<Garage, String> {
    let binary = binary()?;
    let dir = std::env::temp_dir().join(format!("stowage-garage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (rpc, s3, admin) = (free_port()?, free_port()?, free_port()?);
    let config = dir.join("garage.toml");
    let toml = format!(
        r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "stowage-test-admin-token"
"#,
        dir = dir.display(),
        secret = "a".repeat(64),
    );
    std::fs::write(&config, toml).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("garage.log")).map_err(|e| e.to_string())?;
    let child = Command::new(&binary)
        .arg("-c")
        .arg(&config)
        .arg("server")
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("cannot start garage: {e}"))?;
    let garage_handle = Garage {
        child,
        dir: dir.clone(),
        binary: binary.clone(),
        config: config.clone(),
        endpoint: format!("http://127.0.0.1:{s3}"),
    };

    let deadline = Instant::now() + Duration::from_secs(30);
    let node = loop {
        match garage(&binary, &config, &["node", "id", "-q"]) {
            Ok(id) => break id.trim().split('@').next().unwrap_or_default().to_owned(),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("garage did not come up: {e}; log in {}", dir.join("garage.log").display()));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    // The node answers `node id` before its RPC listener is up: retry each step until the deadline.
    let retry = |args: &[&str]| -> Result<String, String> {
        loop {
            match garage(&binary, &config, args) {
                Ok(out) => return Ok(out),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    };
    retry(&["layout", "assign", "-z", "dc1", "-c", "1G", &node])?;
    retry(&["layout", "apply", "--version", "1"])?;
    retry(&["key", "import", "--yes", "-n", "stowage-tests", ACCESS_KEY, SECRET_KEY])?;
    retry(&["key", "allow", "--create-bucket", ACCESS_KEY])?;
    // The S3 API answers once the layout is live.
    while std::net::TcpStream::connect(("127.0.0.1", s3)).is_err() {
        if Instant::now() > deadline {
            return Err("garage's S3 API did not open".to_owned());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("garage: S3 API at {} (data in {})", garage_handle.endpoint, dir.display());
    Ok(garage_handle)
}
