//! The system under test: a fresh bench database and bucket, and the real `stowage` release
//! binary started on a free port with a namespace and a write key.

use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where everything is, from the environment `cargo xtask bench` sets.
#[derive(Clone)]
pub struct BenchEnv {
    pub stowage: PathBuf,
    /// The PostgreSQL server (maintenance database).
    pub admin_url: String,
    pub pg_log: PathBuf,
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    /// The bucket the xtask created for the run.
    pub s3_bucket: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run benchmarks with `cargo xtask bench`"))
}

impl BenchEnv {
    pub fn from_env() -> Self {
        Self {
            stowage: PathBuf::from(var("STOWAGE_BENCH_BINARY")),
            admin_url: var("DATABASE_URL"),
            pg_log: PathBuf::from(var("STOWAGE_BENCH_PG_LOG")),
            s3_endpoint: var("STOWAGE_TEST_S3_ENDPOINT"),
            s3_region: var("STOWAGE_TEST_S3_REGION"),
            s3_access_key: var("STOWAGE_TEST_S3_ACCESS_KEY"),
            s3_secret_key: var("STOWAGE_TEST_S3_SECRET_KEY"),
            s3_bucket: var("STOWAGE_BENCH_S3_BUCKET"),
        }
    }

    /// The URL of database `name` on the bench server.
    pub fn db_url(&self, name: &str) -> String {
        let base = self.admin_url.rsplit_once('/').map_or(self.admin_url.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    }

    fn vars(&self, db: &str) -> Vec<(String, String)> {
        [
            ("STOWAGE__DATABASE__URL", self.db_url(db)),
            ("STOWAGE__DATABASE__MAX_CONNECTIONS", "16".to_owned()),
            ("STOWAGE__STORAGE__ENDPOINT", self.s3_endpoint.clone()),
            ("STOWAGE__STORAGE__REGION", self.s3_region.clone()),
            ("STOWAGE__STORAGE__BUCKET", self.s3_bucket.clone()),
            ("STOWAGE__STORAGE__FORCE_PATH_STYLE", "true".to_owned()),
            ("STOWAGE__STORAGE__ACCESS_KEY_ID", self.s3_access_key.clone()),
            ("STOWAGE__STORAGE__SECRET_ACCESS_KEY", self.s3_secret_key.clone()),
            ("STOWAGE__SERVER__BIND", "127.0.0.1:0".to_owned()),
            ("STOWAGE__WORKER__ENABLED", "false".to_owned()),
            ("STOWAGE__LOG__LEVEL", "warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Runs a `stowage` command against database `db` and returns its stdout.
    pub async fn cli(&self, db: &str, args: &[&str]) -> String {
        let out = Command::new(&self.stowage).args(args).envs(self.vars(db)).output().await.expect("run stowage");
        assert!(out.status.success(), "stowage {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// A running `stowage serve`.
pub struct Server {
    child: Child,
    pub port: u16,
    pub pid: u32,
    pub key: String,
}

impl Server {
    /// Recreates database `db`, migrates it, creates a namespace and key, and starts serving.
    pub async fn fresh(env: &BenchEnv, db: &str) -> Self {
        crate::pg::recreate_database(env, db).await;
        env.cli(db, &["migrate"]).await;
        env.cli(db, &["namespaces", "create", "bench"]).await;
        let key = env.cli(db, &["keys", "create", "--namespace", "bench", "--role", "write"]).await;
        Self::start(env, db, key).await
    }

    /// Starts serving an existing database with a known key.
    pub async fn start(env: &BenchEnv, db: &str, key: String) -> Self {
        let mut command = Command::new(&env.stowage);
        command.arg("serve").envs(env.vars(db));
        Self::spawn(command, Some(key)).await
    }

    /// Starts the embedded default (SQLite + local disk, no configuration) in `dir`, which keeps
    /// its data; a first start's admin key is read from the banner.
    pub async fn embedded(env: &BenchEnv, dir: &std::path::Path, key: Option<String>) -> Self {
        let mut command = Command::new(&env.stowage);
        command
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("STOWAGE__SERVER__BIND", "127.0.0.1:0")
            .env("STOWAGE__WORKER__ENABLED", "false")
            .env("STOWAGE__LOG__LEVEL", "warn");
        Self::spawn(command, key).await
    }

    /// Spawns `command` and waits for its "listening" line (and, without a `key`, for the
    /// first-start key it prints).
    async fn spawn(mut command: Command, key: Option<String>) -> Self {
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true).spawn().expect("start stowage");
        let pid = child.id().expect("pid");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut port = None;
        let mut key = key;
        let (port, key) = loop {
            if let (Some(port), Some(key)) = (port, key.clone()) {
                break (port, key);
            }
            let line = lines.next_line().await.expect("read stdout").expect("stowage exited before listening");
            if let Some(p) = line.strip_prefix("stowage listening on http://").and_then(|a| a.rsplit(':').next()) {
                port = Some(p.trim().parse().expect("port"));
            } else if line.starts_with("sk_") {
                key = Some(line.trim().to_owned());
            }
        };
        // Keep reading: a server writing to a pipe nobody reads would block, or die of EPIPE.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, port, pid, key }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// The server's peak resident set (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// CPU time (user + system) the server has used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds_of(&self.pid.to_string())
    }

    /// Resets the peak to the current resident set.
    pub fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }
}

/// CPU time (user + system) of process `pid` (or `self`), in seconds.
pub fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    let ticks = clock_ticks();
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) / ticks
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
