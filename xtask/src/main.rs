//! `cargo xtask`: every developer and CI task of the repository, in Rust so it runs wherever
//! cargo does.
//!
//! - `cargo xtask test` — formatting, clippy, dependency invariants, every test (nextest), then
//!   the fuzz step (`cargo xtask fuzz`: schemathesis against the real binary on both backends)
//!   and the browser step (`cargo xtask browser`: Uppy in headless chromium, both backends).
//!   `cargo xtask test --fast`: the tests that need no PostgreSQL and no S3 server.
//! - `cargo xtask deps` — the architecture's dependency invariants.
//! - `cargo xtask deploy-test` — the image, `deploy/compose.yaml` on a real Docker engine, and the
//!   Kubernetes manifests validated offline (`deploy-test k8s` for the manifests alone).

mod browser;
mod deploy;
mod deps;
mod fuzz;
mod garage;
mod services;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("deps") if args.get(1).is_some_and(|a| a == "--write") => deps::write(),
        Some("deps") => deps::check(),
        Some("lint") => lint(),
        Some("services") => services(),
        Some("fuzz") => fuzz(),
        Some("browser") => browser(),
        Some("ui") => browser::build_ui(),
        Some("deploy-test") if args.get(1).is_some_and(|a| a == "k8s") => deploy::k8s(),
        Some("deploy-test") => deploy::test(),
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|deps|lint>\n\n  test   fmt, clippy, deps, every test, then the fuzz step\n  test --fast  the tests that need neither PostgreSQL nor an S3 server\n  services  start PostgreSQL and Garage for running tests by hand\n  deps   check the dependency invariants\n  lint   fmt and clippy only\n  fuzz   schemathesis against the real binary on both backends\n  browser  Uppy (5.x, 6.x) in headless chromium against the real binary on both backends\n  ui     rebuild the upload page's bundle (crates/server/ui/dist) from its pinned npm packages\n  deploy-test [k8s]  the image and compose stack on a real Docker engine; the k8s manifests validated\n  bench [confirm|embedded|create|hash|scale|all] [--quick]  benchmarks against same-run ceilings; writes docs/benchmarks.md (--quick: one small round, a smoke run, written under the target directory)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The variables cargo sets for xtask itself (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...). A
/// nested cargo must not inherit them: build scripts such as ring's declare
/// `rerun-if-env-changed` on exactly these, so builds started from xtask (whose values name the
/// xtask crate, at whatever path the checkout has) and builds started from a shell would keep
/// invalidating each other, recompiling ring and everything above it (rustls, hyper, the AWS
/// SDK) in every profile.
fn xtask_own_cargo_vars() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_")
                || matches!(
                    k.as_str(),
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_MANIFEST_LINKS"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_CRATE_NAME"
                )
        })
        .collect()
}

/// A command for `program` without the variables cargo set for xtask (see
/// [`xtask_own_cargo_vars`]).
pub(crate) fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for name in xtask_own_cargo_vars() {
        command.env_remove(name);
    }
    command
}

/// Runs a command, inheriting stdio; fails with its command line when it fails.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = command(program).args(args).status().map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed ({status})", args.join(" "))) }
}

pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn lint() -> Result<(), String> {
    let cargo = cargo();
    run(&cargo, &["fmt", "--all", "--", "--check"])?;
    run(&cargo, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])
}

/// The fast tier's tests: everything that needs neither PostgreSQL nor an S3 server — the domain,
/// the SQLite adapter and the conformance suite on SQLite, the disk store, the HTTP layer, the
/// client, xtask, and the API tests on the embedded default (`spawn_embedded`, named
/// `*embedded*`).
const FAST_TIER: &str = "package(stowage-domain) | package(stowage-sqlite) | package(stowage-disk) \
    | package(stowage-http-actix) | package(stowage-client) | package(xtask) \
    | (package(stowage-conformance) & binary(sqlite)) \
    | (package(stowage-server) & (kind(lib) | kind(bin) | test(/embedded/)))";

/// `cargo xtask test --fast`: formatting, then the fast tier with `DATABASE_URL` and the S3
/// variables pointing at nothing, so that a test which does need a server fails loudly instead
/// of slipping into the tier.
fn fast() -> Result<(), String> {
    run(&cargo(), &["fmt", "--all", "--", "--check"])?;
    let nextest = nextest()?;
    let args = ["nextest", "run", "--workspace", "--locked", "--no-fail-fast", "-E", FAST_TIER];
    eprintln!("$ {} {}", nextest.display(), args.join(" "));
    let mut command = command(&nextest);
    command.args(args).env("DATABASE_URL", "postgres://fast-tier-has-no-database@127.0.0.1:9/none");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("STOWAGE_TEST_S3_") {
            command.env_remove(name);
        }
    }
    let status = command.status().map_err(|e| format!("cannot run cargo nextest: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("fast tier failed ({status})")) }
}

fn test(extra: &[String]) -> Result<(), String> {
    if extra.iter().any(|a| a == "--fast") {
        return fast();
    }
    lint()?;
    deps::check()?;
    let database = services::ensure_postgres()?;
    services::schema_check(&database)?;
    // Kept alive until the tests are done; dropping it stops the server.
    let (garage, env) = start_s3()?;
    let nextest = nextest()?;
    let mut args = vec!["nextest", "run", "--workspace", "--locked", "--no-fail-fast"];
    args.extend(extra.iter().map(String::as_str));
    eprintln!("$ {} {}", nextest.display(), args.join(" "));
    let status = command(&nextest).args(&args).envs(env).env("DATABASE_URL", &database).status();
    let tests = match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("tests failed ({s})")),
        Err(e) => Err(format!("cannot run cargo nextest: {e}")),
    };
    // The fuzz and browser steps run even when a test failed: every verdict is reported.
    let fuzzed = fuzz::run(&database, garage.as_ref());
    let browsed = browser::run(&database, garage.as_ref());
    let failures: Vec<String> = [tests, fuzzed, browsed].into_iter().filter_map(Result::err).collect();
    if failures.is_empty() { Ok(()) } else { Err(failures.join("\n")) }
}

/// The pinned cargo-nextest release installed when the machine has none.
const NEXTEST: &str = "0.9.143";

/// What runs `nextest run`: the machine's `cargo nextest` when it has one, else cargo-nextest
/// installed once (pinned) into the tools cache — the README's test command needs only Rust.
fn nextest() -> Result<std::path::PathBuf, String> {
    let cargo = cargo();
    if command(&cargo).args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success()) {
        return Ok(cargo.into());
    }
    services::ensure_tool("cargo-nextest", &["cargo-nextest", "--version", NEXTEST])
}

/// Runs the fuzz step on its own (PostgreSQL must answer; Garage is started).
fn fuzz() -> Result<(), String> {
    let database = services::ensure_postgres()?;
    fuzz::run(&database, None)
}

/// Runs the browser step on its own (PostgreSQL must answer; Garage is started).
fn browser() -> Result<(), String> {
    let database = services::ensure_postgres()?;
    browser::run(&database, None)
}

/// Runs the benchmarks: release builds, PostgreSQL and Garage, then `stowage-bench`.
fn bench(args: &[String]) -> Result<(), String> {
    let database = services::ensure_postgres()?;
    let pg_log = std::env::var("STOWAGE_BENCH_PG_LOG").ok().or_else(services::postgres_log).ok_or(
        "cannot find PostgreSQL's log file (the confirm ceiling is captured from it); set STOWAGE_BENCH_PG_LOG",
    )?;
    let target = release_build()?;
    let (garage, mut env) = start_s3()?;
    let bucket = "stowage-bench";
    match &garage {
        Some(g) => g.create_bucket(bucket)?,
        None => return Err("cargo xtask bench starts its own Garage: unset STOWAGE_TEST_S3_ENDPOINT".to_owned()),
    }
    env.extend([
        ("DATABASE_URL".to_owned(), database),
        ("STOWAGE_BENCH_PG_LOG".to_owned(), pg_log),
        ("STOWAGE_BENCH_S3_BUCKET".to_owned(), bucket.to_owned()),
        ("STOWAGE_BENCH_BINARY".to_owned(), format!("{target}/release/stowage")),
    ]);
    let status = Command::new(format!("{target}/release/stowage-bench"))
        .args(if args.is_empty() { vec!["all".to_owned()] } else { args.to_vec() })
        .envs(env)
        .status()
        .map_err(|e| format!("cannot run stowage-bench: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("the benchmark failed ({status})")) }
}

/// The release build `bench` and `deploy-test` share: the same packages every time, so cargo's
/// feature unification gives the same artifacts and neither rebuilds the dependency tree after
/// the other. Returns the target directory.
pub(crate) fn release_build() -> Result<String, String> {
    run(&cargo(), &["build", "--release", "--locked", "-p", "stowage-server", "-p", "stowage-bench"])?;
    Ok(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned()))
}

/// Starts what the tests need and prints the environment to run them by hand, until killed.
/// Also prepares a `stowage` database and bucket and writes `target/stowage-services.env` with
/// what `stowage serve` needs to use them.
fn services() -> Result<(), String> {
    let database = services::ensure_postgres()?;
    let (garage, env) = start_s3()?;
    let mut lines = vec![("DATABASE_URL".to_owned(), database.clone())];
    lines.extend(env.iter().cloned());
    if let Some(garage) = &garage {
        garage.create_bucket("stowage")?;
        let app_db = services::ensure_database(&database, "stowage")?;
        lines.extend([
            ("STOWAGE__DATABASE__URL".to_owned(), app_db),
            ("STOWAGE__STORAGE__ENDPOINT".to_owned(), garage.endpoint.clone()),
            ("STOWAGE__STORAGE__REGION".to_owned(), garage::REGION.to_owned()),
            ("STOWAGE__STORAGE__BUCKET".to_owned(), "stowage".to_owned()),
            ("STOWAGE__STORAGE__FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
            ("STOWAGE__STORAGE__ACCESS_KEY_ID".to_owned(), garage::ACCESS_KEY.to_owned()),
            ("STOWAGE__STORAGE__SECRET_ACCESS_KEY".to_owned(), garage::SECRET_KEY.to_owned()),
        ]);
    }
    let file: String = lines.iter().map(|(k, v)| format!("export {k}={v}\n")).collect();
    std::fs::create_dir_all("target").map_err(|e| e.to_string())?;
    std::fs::write("target/stowage-services.env", &file).map_err(|e| e.to_string())?;
    for (k, v) in &lines {
        println_env(k, v);
    }
    eprintln!("services: running; the environment is in target/stowage-services.env; stop with Ctrl-C");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

#[expect(clippy::print_stdout, reason = "the command's output is the environment to export")]
fn println_env(key: &str, value: &str) {
    println!("export {key}={value}");
}

/// Environment variables handed to the test processes.
type Env = Vec<(String, String)>;

/// Returns the server (to keep alive) and the environment that tells the tests where it is.
fn start_s3() -> Result<(Option<garage::Garage>, Env), String> {
    if std::env::var_os("STOWAGE_TEST_S3_ENDPOINT").is_some() {
        return Ok((None, Vec::new()));
    }
    let server = garage::start()?;
    let env = vec![
        ("STOWAGE_TEST_S3_ENDPOINT".to_owned(), server.endpoint.clone()),
        ("STOWAGE_TEST_S3_ACCESS_KEY".to_owned(), garage::ACCESS_KEY.to_owned()),
        ("STOWAGE_TEST_S3_SECRET_KEY".to_owned(), garage::SECRET_KEY.to_owned()),
        ("STOWAGE_TEST_S3_REGION".to_owned(), garage::REGION.to_owned()),
    ];
    Ok((Some(server), env))
}

#[cfg(test)]
mod repo_rules {
    //! Repository rules checked by ordinary tests: every Rust module says what it holds, and no
    //! test is skipped.

    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("target") {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn workspace_sources() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        rust_files(&root.join("crates"), &mut files);
        rust_files(&root.join("xtask"), &mut files);
        assert!(files.len() > 10, "found only {} Rust files", files.len());
        files
    }

    #[test]
    fn every_module_starts_with_a_module_doc() {
        let undocumented: Vec<_> = workspace_sources()
            .into_iter()
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                let text = text.trim_start();
                !text.starts_with("//!") && !text.starts_with("// @generated")
            })
            .collect();
        assert!(undocumented.is_empty(), "modules without a `//!` doc: {undocumented:?}");
    }

    #[test]
    fn no_test_is_ignored() {
        let marker = ["#[", "ignore"].concat();
        let ignored: Vec<_> = workspace_sources()
            .into_iter()
            .filter(|f| std::fs::read_to_string(f).unwrap_or_default().contains(&marker))
            .collect();
        assert!(ignored.is_empty(), "ignored tests in {ignored:?}");
    }
}
