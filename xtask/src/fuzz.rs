//! `cargo xtask fuzz`: the real `stowage` binary under schemathesis (pinned from PyPI, in a
//! virtualenv in the tools cache), once on the embedded default (SQLite + disk) and once on
//! PostgreSQL + Garage; before it, the published Mixpeek SDK runs its compatibility suite
//! (`tests/sdk`, pytest) against the same server. Every check (`--checks all`, spelled out in `xtask/fuzz/schemathesis.toml`
//! with the few exclusions and their reasons), a fixed seed, at least [`MIN_CASES`]
//! generated cases per backend; the run fails on any failed check (a 5xx, a dropped connection,
//! a response that breaks the document, a positive case refused...) and on any `panicked` in the
//! server's log. The reports are left in `target/fuzz/<backend>/`.

use crate::garage::{self, Garage};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The schemathesis release the run is pinned to.
const SCHEMATHESIS: &str = "4.32.5";
/// Every check, and the exclusions with their reasons.
const CONFIG: &str = "xtask/fuzz/schemathesis.toml";
/// The OpenAPI validator release the document is checked with (installed beside schemathesis).
const SPEC_VALIDATOR: &str = "0.9.0";
/// The published Mixpeek SDK the compatibility suite (`tests/sdk`) drives, and its test runner.
const MIXPEEK_SDK: &str = "1.3.783";
const PYTEST: &str = "9.2.0";
/// The client generator the document must work with, and the smoke test of its client.
const GENERATOR: &str = "0.29.1";
/// The seed of every run, so a failure replays.
const SEED: &str = "20261202";
/// Examples per operation and phase; with the API's operations this is well over [`MIN_CASES`].
const MAX_EXAMPLES: &str = "25";
/// The fewest generated cases a backend's run may count.
const MIN_CASES: usize = 1000;

/// Runs the fuzz step on both backends (Garage is started unless one is given).
pub fn run(database: &str, garage: Option<&Garage>) -> Result<(), String> {
    let schemathesis = ensure_schemathesis()?;
    // The same build nextest makes (every workspace target, dev features unified), so after the
    // tests this builds nothing; `build -p stowage-server` alone resolves features differently and
    // recompiled part of the dependency tree.
    crate::run(&crate::cargo(), &["test", "--no-run", "--workspace", "--locked"])?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let binary = PathBuf::from(format!("{target}/debug/stowage"));
    let out = PathBuf::from("target/fuzz");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;

    garage::given_or_started(garage, |garage| fuzz_both(&schemathesis, &binary, &out, database, garage))
}

/// Fuzzes the embedded default, then PostgreSQL + `garage`.
fn fuzz_both(schemathesis: &Path, binary: &Path, out: &Path, database: &str, garage: &Garage) -> Result<(), String> {
    let mut failures = Vec::new();
    for backend in [Backend::Embedded, Backend::Production] {
        let env = backend.env(out, database, garage)?;
        if let Err(e) = fuzz_one(schemathesis, binary, backend, &env, out) {
            failures.push(format!("{}: {e}", backend.name()));
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(format!("fuzzing failed:\n  {}", failures.join("\n  "))) }
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    /// SQLite + disk, exactly what `stowage serve` runs with nothing configured.
    Embedded,
    /// PostgreSQL + Garage.
    Production,
}

impl Backend {
    const fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Production => "postgres-garage",
        }
    }

    /// The server's environment, on fresh state.
    fn env(self, out: &Path, database: &str, garage: &Garage) -> Result<Vec<(String, String)>, String> {
        let data_dir = std::fs::canonicalize(out).map_err(|e| e.to_string())?.join(format!("{}-data", self.name()));
        let mut env = vec![
            ("STOWAGE__DATA_DIR".to_owned(), data_dir.display().to_string()),
            ("STOWAGE__SERVER__BIND".to_owned(), format!("127.0.0.1:{}", free_port()?)),
            // schemathesis sends unknown keys on purpose; the per-address limit would answer
            // everything after the 30th with 429.
            ("STOWAGE__SERVER__FAILED_AUTH_PER_MINUTE".to_owned(), "0".to_owned()),
        ];
        if let Self::Production = self {
            let bucket = "stowage-fuzz";
            garage.create_bucket(bucket)?;
            let db = crate::services::fresh_database(database, "stowage_fuzz")?;
            env.extend([
                ("STOWAGE__DATABASE__URL".to_owned(), db),
                ("STOWAGE__STORAGE__ENDPOINT".to_owned(), garage.endpoint.clone()),
                ("STOWAGE__STORAGE__REGION".to_owned(), garage::REGION.to_owned()),
                ("STOWAGE__STORAGE__BUCKET".to_owned(), bucket.to_owned()),
                ("STOWAGE__STORAGE__FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
                ("STOWAGE__STORAGE__ACCESS_KEY_ID".to_owned(), garage::ACCESS_KEY.to_owned()),
                ("STOWAGE__STORAGE__SECRET_ACCESS_KEY".to_owned(), garage::SECRET_KEY.to_owned()),
            ]);
        }
        Ok(env)
    }
}

/// A running server, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn fuzz_one(
    schemathesis: &Path,
    binary: &Path,
    backend: Backend,
    env: &[(String, String)],
    out: &Path,
) -> Result<(), String> {
    let name = backend.name();
    let bind = env.iter().find(|(k, _)| k == "STOWAGE__SERVER__BIND").map(|(_, v)| v.clone()).unwrap_or_default();
    let log_path = out.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let child = Command::new(binary)
        .arg("serve")
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let server = Server(child);
    wait_healthy(&bind, &log_path)?;
    let key = operator_key(binary, backend, env)?;
    let mut problems = Vec::new();
    if let Backend::Embedded = backend {
        // The document itself must be valid OpenAPI before anything is generated from it.
        let validator = schemathesis.with_file_name("openapi-spec-validator");
        let document = out.join("openapi.json");
        std::fs::write(&document, http_get(&bind, "/openapi.json")?).map_err(|e| e.to_string())?;
        let valid = Command::new(&validator)
            .arg(&document)
            .status()
            .map_err(|e| format!("cannot run {}: {e}", validator.display()))?;
        if !valid.success() {
            problems.push("/openapi.json is not a valid OpenAPI document (openapi-spec-validator)".to_owned());
        }
        // A real generator makes a client of it, and that client creates, PUTs and confirms.
        if let Err(e) = generated_client_smoke(&document, out, &bind, &key) {
            problems.push(e);
        }
        // /docs renders every operation with the network cut off (no CDN).
        if let Err(e) = docs_work_offline(&bind, out) {
            problems.push(e);
        }
    }
    // The published SDK parses every answer, with the values stowage means (tests/sdk).
    let namespace = if let Backend::Embedded = backend { "default" } else { "fuzz" };
    let python = ensure_sdk()?;
    let suite = std::fs::canonicalize("tests/sdk/test_mixpeek_sdk.py").map_err(|e| format!("tests/sdk: {e}"))?;
    eprintln!("fuzz: {name}: the Mixpeek SDK {MIXPEEK_SDK} compatibility suite");
    let sdk = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&suite)
        .env("STOWAGE_URL", format!("http://{bind}"))
        .env("STOWAGE_KEY", &key)
        .env("STOWAGE_NAMESPACE", namespace)
        .status()
        .map_err(|e| format!("cannot run pytest: {e}"))?;
    if !sdk.success() {
        problems.push(format!("the Mixpeek SDK compatibility suite failed ({sdk})"));
    }
    let report_dir = out.join(name);
    let base = format!("http://{bind}");
    eprintln!(
        "fuzz: {name}: schemathesis {SCHEMATHESIS} against {base} (seed {SEED}; server log {})",
        log_path.display()
    );
    std::fs::create_dir_all(&report_dir).map_err(|e| e.to_string())?;
    let config = std::fs::canonicalize(CONFIG).map_err(|e| format!("{CONFIG}: {e}"))?;
    let status = Command::new(schemathesis)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{base}/openapi.json"), "--url", &base])
        .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES, "--workers", "1"])
        .args(["--request-timeout", "30", "--suppress-health-check", "all"])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--report", "junit,ndjson", "--report-dir", "."])
        .env("NO_COLOR", "1")
        // A fresh directory: schemathesis keeps a cache of earlier failures in its working one.
        .current_dir(&report_dir)
        .status()
        .map_err(|e| format!("cannot run schemathesis: {e}"))?;
    drop(server);
    if !status.success() {
        problems.push(format!("schemathesis reported failures ({status}); report in {}", report_dir.display()));
    }
    let cases = count_cases(&report_dir)?;
    if cases < MIN_CASES {
        problems.push(format!("only {cases} cases were generated (at least {MIN_CASES} are required)"));
    }
    let server_log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let panics = server_log.lines().filter(|l| l.contains("panicked")).count();
    if panics > 0 {
        problems.push(format!("the server log has {panics} `panicked` lines ({})", log_path.display()));
    }
    eprintln!("fuzz: {name}: {cases} cases, {panics} panics, schemathesis {status}");
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Counts the test cases schemathesis ran, from its ndjson event stream.
fn count_cases(report_dir: &Path) -> Result<usize, String> {
    let mut cases = 0;
    for entry in std::fs::read_dir(report_dir).map_err(|e| format!("no report in {}: {e}", report_dir.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|e| e == "ndjson") {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            for line in text.lines() {
                let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else { continue };
                if let Some(recorder) = event.get("ScenarioFinished").and_then(|f| f.get("recorder")) {
                    cases +=
                        recorder.get("cases").and_then(serde_json::Value::as_object).map_or(0, serde_json::Map::len);
                }
            }
        }
    }
    Ok(cases)
}

/// The embedded default writes its operator key on first start; on PostgreSQL one is created.
fn operator_key(binary: &Path, backend: Backend, env: &[(String, String)]) -> Result<String, String> {
    match backend {
        Backend::Embedded => {
            let dir = env.iter().find(|(k, _)| k == "STOWAGE__DATA_DIR").map(|(_, v)| v.clone()).unwrap_or_default();
            std::fs::read_to_string(Path::new(&dir).join("admin.key"))
                .map(|k| k.trim().to_owned())
                .map_err(|e| format!("no admin.key in {dir}: {e}"))
        }
        Backend::Production => {
            let made = Command::new(binary)
                .args(["namespaces", "create", "fuzz"])
                .envs(env.iter().cloned())
                .output()
                .map_err(|e| format!("cannot run stowage namespaces create: {e}"))?;
            if !made.status.success() {
                return Err(format!("stowage namespaces create failed: {}", String::from_utf8_lossy(&made.stderr)));
            }
            let out = Command::new(binary)
                .args(["keys", "create", "--all-namespaces", "--namespace", "fuzz", "--role", "admin"])
                .envs(env.iter().cloned())
                .output()
                .map_err(|e| format!("cannot run stowage keys create: {e}"))?;
            if !out.status.success() {
                return Err(format!("stowage keys create failed: {}", String::from_utf8_lossy(&out.stderr)));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
    }
}

/// The body of `GET path` when it answers 200 (HTTP/1.1, `Connection: close`).
fn http_get(bind: &str, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(bind).map_err(|e| format!("{bind}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {bind}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(format!("GET {path}: {}", response.lines().next().unwrap_or_default())),
    }
}

/// Waits until `GET /healthz` answers 200.
fn wait_healthy(bind: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http_get(bind, "/healthz").is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("stowage did not become healthy at {bind}; log in {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Loads `/docs` in headless Chromium (Debian's `chromium`, installed with apt when missing)
/// with every host but 127.0.0.1 unresolvable, and checks that the operations are rendered; the
/// screenshot is left at `target/fuzz/docs.png`.
fn docs_work_offline(bind: &str, out: &Path) -> Result<(), String> {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!("xtask: installing Debian's chromium for the offline /docs check");
        crate::run("apt-get", &["update", "-qq"])?;
        crate::run("apt-get", &["install", "-y", "-qq", "chromium"])?;
    }
    let url = format!("http://{bind}/docs");
    let offline = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--virtual-time-budget=15000",
    ];
    let dom = Command::new(chromium)
        .args(offline)
        .arg("--dump-dom")
        .arg(&url)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run chromium: {e}"))?;
    let rendered = String::from_utf8_lossy(&dom.stdout);
    let screenshot = std::fs::canonicalize(out).map_err(|e| e.to_string())?.join("docs.png");
    let _ = Command::new(chromium)
        .args(offline)
        .arg("--window-size=1280,1600")
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .stderr(Stdio::null())
        .status();
    // The confirm operation's summary and path, as Redoc renders them.
    if rendered.contains("Verify S3 upload completion") && rendered.contains("uploads/{upload_id}/confirm") {
        eprintln!("fuzz: /docs renders offline (screenshot {})", screenshot.display());
        Ok(())
    } else {
        Err(format!("/docs rendered no operations with the network cut off (screenshot {})", screenshot.display()))
    }
}

/// Generates a Python client from `document` with openapi-python-client (pinned, virtualenv in
/// the tools cache) and runs `tests/generated-client/smoke.py` with it against the server.
fn generated_client_smoke(document: &Path, out: &Path, bind: &str, key: &str) -> Result<(), String> {
    let bin = crate::services::ensure_python_tools(
        &format!("openapi-python-client-{GENERATOR}"),
        &[format!("openapi-python-client=={GENERATOR}")],
        &["openapi-python-client"],
    )?;
    let generator = bin.join("openapi-python-client");
    let generated = std::fs::canonicalize(out).map_err(|e| e.to_string())?.join("generated");
    let _ = std::fs::remove_dir_all(&generated);
    std::fs::create_dir_all(&generated).map_err(|e| e.to_string())?;
    let status = Command::new(&generator)
        .args(["generate", "--meta", "none", "--overwrite", "--path"])
        .arg(document)
        .arg("--output-path")
        .arg(generated.join("stowage_client"))
        .arg("--config")
        .arg(std::fs::canonicalize("tests/generated-client/config.yaml").map_err(|e| e.to_string())?)
        .status()
        .map_err(|e| format!("cannot run openapi-python-client: {e}"))?;
    if !status.success() {
        return Err(format!("openapi-python-client could not generate a client from /openapi.json ({status})"));
    }
    let smoke = std::fs::canonicalize("tests/generated-client/smoke.py").map_err(|e| e.to_string())?;
    let status = Command::new(bin.join("python"))
        .arg(&smoke)
        .arg(&generated)
        .env("STOWAGE_URL", format!("http://{bind}"))
        .env("STOWAGE_KEY", key)
        .status()
        .map_err(|e| format!("cannot run the generated client's smoke test: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("the generated client's smoke test failed ({status})")) }
}

/// The Python of a virtualenv (in the tools cache) holding the pinned Mixpeek SDK and pytest.
fn ensure_sdk() -> Result<PathBuf, String> {
    let packages = [format!("mixpeek=={MIXPEEK_SDK}"), format!("pytest=={PYTEST}")];
    Ok(crate::services::ensure_python_tools(&format!("mixpeek-{MIXPEEK_SDK}"), &packages, &["pytest"])?.join("python"))
}

/// The schemathesis executable, installed once (with openapi-spec-validator beside it) into a
/// virtualenv in the tools cache.
fn ensure_schemathesis() -> Result<PathBuf, String> {
    let packages = [format!("schemathesis=={SCHEMATHESIS}"), format!("openapi-spec-validator=={SPEC_VALIDATOR}")];
    let executables = ["schemathesis", "openapi-spec-validator"];
    let bin = crate::services::ensure_python_tools(&format!("schemathesis-{SCHEMATHESIS}"), &packages, &executables)?;
    Ok(bin.join("schemathesis"))
}
