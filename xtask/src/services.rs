//! The real servers and tools the tests need, brought up by `cargo xtask test` itself:
//! PostgreSQL (reused when it answers, started with the machine's cluster tools otherwise),
//! the diesel CLI for the schema check, and Garage, the S3-compatible server.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Where pinned tools are installed and cached between runs.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("STOWAGE_TOOLS").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        home.join(".cache/stowage/tools")
    })
}

/// The path of a tool installed with `cargo install --root tools_dir()`, installing it first.
pub fn ensure_tool(binary: &str, install: &[&str]) -> Result<PathBuf, String> {
    let path = tools_dir().join("bin").join(binary);
    if path.exists() {
        return Ok(path);
    }
    eprintln!("xtask: installing {binary} into {} (once; later runs reuse it)", tools_dir().display());
    let root = tools_dir().display().to_string();
    let mut args = vec!["install", "--locked", "--root", root.as_str()];
    args.extend_from_slice(install);
    crate::run(&crate::cargo(), &args)?;
    if path.exists() { Ok(path) } else { Err(format!("{binary} was not installed at {}", path.display())) }
}

/// The `bin` directory of a virtualenv `name` in the tools cache holding the pinned Python
/// `packages` (`pkg==version`), created and installed once — again only when one of the
/// `executables` it must provide is missing.
pub fn ensure_python_tools(name: &str, packages: &[String], executables: &[&str]) -> Result<PathBuf, String> {
    let venv = tools_dir().join(name);
    let bin = venv.join("bin");
    if executables.iter().all(|e| bin.join(e).exists()) {
        return Ok(bin);
    }
    eprintln!("xtask: installing {} into {} (once; later runs reuse it)", packages.join(" "), venv.display());
    if !bin.join("pip").exists() {
        crate::run("python3", &["-m", "venv", &venv.display().to_string()])?;
    }
    let pip = bin.join("pip").display().to_string();
    let mut args = vec!["install", "--disable-pip-version-check", "-q"];
    args.extend(packages.iter().map(String::as_str));
    crate::run(&pip, &args)?;
    match executables.iter().find(|e| !bin.join(e).exists()) {
        None => Ok(bin),
        Some(missing) => Err(format!("{missing} was not installed into {}", bin.display())),
    }
}

/// The server URL the tests use: `DATABASE_URL`, else the local default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn host_port(url: &str) -> Option<(String, u16)> {
    let after_scheme = url.split_once("://")?.1;
    let authority = after_scheme.split('/').next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    match host_port.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((host_port.to_owned(), 5432)),
    }
}

fn answers(host: &str, port: u16) -> bool {
    (host, port)
        .to_socket_addrs()
        .into_iter()
        .flatten()
        .any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}

/// Makes sure PostgreSQL answers at `database_url()`, starting the machine's cluster if needed.
pub fn ensure_postgres() -> Result<String, String> {
    let url = database_url();
    let (host, port) = host_port(&url).ok_or_else(|| format!("cannot parse DATABASE_URL {url}"))?;
    if answers(&host, port) {
        return Ok(url);
    }
    let versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if let Some(version) = versions.first() {
        eprintln!("xtask: PostgreSQL does not answer at {host}:{port}; starting cluster {version}/main");
        let _ = crate::run("pg_ctlcluster", &["--skip-systemctl-redirect", version, "main", "start"]);
        for _ in 0..30 {
            if answers(&host, port) {
                return Ok(url);
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    Err(format!(
        "PostgreSQL does not answer at {host}:{port}.\n  Start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n  \
         or install it: apt-get install postgresql\n  or point DATABASE_URL at a server (user with CREATEDB)."
    ))
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let status = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .status()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("psql failed: {sql}")) }
}

/// The log file of the machine's Debian PostgreSQL cluster, if there is one.
pub fn postgres_log() -> Option<String> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir("/var/log/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().map(|p| p.display().to_string())
}

/// Creates database `name` on the server of `url` unless it exists; returns its URL.
pub fn ensure_database(url: &str, name: &str) -> Result<String, String> {
    let exists = Command::new("psql")
        .args([url, "-tAc", &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
        psql(url, &format!("CREATE DATABASE {name}"))?;
    }
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

/// Drops and re-creates database `name` on the server of `url` (fresh state for a run); returns
/// its URL.
pub fn fresh_database(url: &str, name: &str) -> Result<String, String> {
    psql(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    ensure_database(url, name)
}

/// Checks that `crates/postgres/src/schema.rs` is what `diesel print-schema` makes of the
/// migrations, on a scratch database.
pub fn schema_check(url: &str) -> Result<(), String> {
    if Command::new("pg_config").arg("--libdir").output().is_err() {
        eprintln!("xtask: installing libpq-dev for the diesel CLI");
        crate::run("apt-get", &["install", "-y", "-q", "libpq-dev"])?;
    }
    let diesel = ensure_tool(
        "diesel",
        &["diesel_cli", "--version", "2.3.14", "--no-default-features", "--features", "postgres"],
    )?;
    let scratch = format!("stowage_schema_check_{}", std::process::id());
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    let scratch_url = format!("{base}/{scratch}");
    psql(url, &format!("DROP DATABASE IF EXISTS {scratch}"))?;
    psql(url, &format!("CREATE DATABASE {scratch}"))?;
    let migrations = "crates/postgres/migrations";
    let result = (|| {
        let run = Command::new(&diesel)
            .args(["migration", "run", "--migration-dir", migrations, "--database-url", &scratch_url])
            .output()
            .map_err(|e| format!("cannot run diesel: {e}"))?;
        if !run.status.success() {
            return Err(format!("diesel migration run failed: {}", String::from_utf8_lossy(&run.stderr)));
        }
        let printed = Command::new(&diesel)
            .args(["print-schema", "--database-url", &scratch_url])
            .current_dir("crates/postgres")
            .output()
            .map_err(|e| format!("cannot run diesel: {e}"))?;
        let expected = String::from_utf8_lossy(&printed.stdout).into_owned();
        let actual = std::fs::read_to_string("crates/postgres/src/schema.rs").map_err(|e| e.to_string())?;
        if printed.status.success() && expected == actual {
            eprintln!("schema: crates/postgres/src/schema.rs matches the migrations");
            Ok(())
        } else {
            Err("crates/postgres/src/schema.rs does not match the migrations; regenerate it with \
                 `diesel print-schema` on a migrated database (see crates/postgres/diesel.toml)"
                .to_owned())
        }
    })();
    psql(url, &format!("DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))?;
    result
}
