//! `cargo xtask browser`: the real-browser test of browser uploads (`tests/browser/run.mjs`):
//! Debian's `chromium` (installed with apt when missing), driven by `puppeteer-core`, loading a
//! page that bundles Uppy (`@uppy/aws-s3` 5.x and 6.x, with esbuild) from npm, against the real
//! `stowage` binary on the embedded default and on PostgreSQL + Garage. npm packages are pinned by
//! the committed lockfiles and cached under `~/.cache/stowage-npm`; the logs and the screenshot
//! are left in `target/browser/`.

use crate::garage::{self, Garage};
use std::path::{Path, PathBuf};

/// Where Debian's package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The npm projects of the test: Uppy 5.x, Uppy 6.x, the runner (puppeteer-core, esbuild), and the
/// upload page's bundle.
const PROJECTS: [&str; 4] = ["tests/browser/uppy5", "tests/browser/uppy6", "tests/browser/runner", UI];
/// The upload page's sources; its bundle (`dist/`) is committed and served from the binary.
const UI: &str = "crates/server/ui";
/// The Garage bucket the test's PostgreSQL + Garage server uses.
const BUCKET: &str = "stowage-browser";

/// Runs the browser test (Garage is started unless one is given).
pub fn run(database: &str, garage: Option<&Garage>) -> Result<(), String> {
    let chromium = ensure_chromium()?;
    npm_ci(&PROJECTS)?;
    // The committed bundle must be what its sources build to.
    let check = PathBuf::from("target/browser-ui-check");
    bundle_ui(&check)?;
    for file in ["ui.js", "ui.css"] {
        let built = std::fs::read(check.join(file)).map_err(|e| e.to_string())?;
        let committed = std::fs::read(Path::new(UI).join("dist").join(file)).unwrap_or_default();
        if built != committed {
            return Err(format!("{UI}/dist/{file} is not what {UI}/src builds to: run `cargo xtask ui` and commit it"));
        }
    }
    // The same build nextest and the fuzz step make, so this builds nothing after them.
    crate::run(&crate::cargo(), &["test", "--no-run", "--workspace", "--locked"])?;
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let binary = format!("{target}/debug/stowage");
    garage::given_or_started(garage, |garage| run_page_tests(database, garage, &chromium, &binary))
}

/// Runs `tests/browser/run.mjs` against `garage`.
fn run_page_tests(database: &str, garage: &Garage, chromium: &str, binary: &str) -> Result<(), String> {
    garage.create_bucket(BUCKET)?;
    let out = PathBuf::from("target/browser");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    eprintln!("$ node tests/browser/run.mjs");
    let mut command = crate::command("node");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("STOWAGE__") {
            command.env_remove(name);
        }
    }
    let status = command
        .arg("tests/browser/run.mjs")
        .env("STOWAGE_BIN", binary)
        .env("CHROMIUM", chromium)
        .env("DATABASE_URL", database)
        .env("STOWAGE_TEST_S3_ENDPOINT", &garage.endpoint)
        .env("STOWAGE_TEST_S3_ACCESS_KEY", garage::ACCESS_KEY)
        .env("STOWAGE_TEST_S3_SECRET_KEY", garage::SECRET_KEY)
        .env("STOWAGE_TEST_S3_REGION", garage::REGION)
        .env("STOWAGE_BROWSER_S3_BUCKET", BUCKET)
        .env("STOWAGE_BROWSER_OUT", &out)
        .status()
        .map_err(|e| format!("cannot run node (Node.js 20 or later is needed): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the browser test failed ({status}); logs in {}", out.display()))
    }
}

/// `npm ci` of `projects`, with the packages cached in `~/.cache/stowage-npm`.
fn npm_ci(projects: &[&str]) -> Result<(), String> {
    let cache = crate::services::tools_dir().parent().map_or_else(|| PathBuf::from(".cache"), Path::to_path_buf);
    let npm_cache = cache.with_file_name("stowage-npm");
    let cache = npm_cache.to_string_lossy();
    for project in projects {
        crate::run(
            "npm",
            &["ci", "--prefix", project, "--cache", &cache, "--no-audit", "--no-fund", "--loglevel=error"],
        )?;
    }
    Ok(())
}

/// Bundles the upload page into `out` (`ui.js`, `ui.css`).
fn bundle_ui(out: &Path) -> Result<(), String> {
    let esbuild = format!("{UI}/node_modules/.bin/esbuild");
    let outfile = format!("--outfile={}", out.join("ui.js").display());
    let entry = format!("{UI}/src/entry.js");
    crate::run(&esbuild, &[&entry, "--bundle", "--minify", "--format=iife", "--log-level=warning", &outfile])
}

/// `cargo xtask ui`: rebuilds the upload page's committed bundle from its pinned npm packages.
pub fn build_ui() -> Result<(), String> {
    npm_ci(&[UI])?;
    bundle_ui(&Path::new(UI).join("dist"))
}

/// Debian's chromium: the installed one, or installed now with apt (as root, as CI runs).
fn ensure_chromium() -> Result<String, String> {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return Ok(path);
    }
    if Path::new(CHROMIUM).exists() {
        return Ok(CHROMIUM.to_owned());
    }
    eprintln!("browser: {CHROMIUM} is missing; installing Debian's chromium");
    crate::run("apt-get", &["update", "-q"])
        .and_then(|()| crate::run("apt-get", &["install", "-y", "-q", "--no-install-recommends", "chromium"]))
        .map_err(|e| format!("{e}: install Debian's chromium (`apt-get install chromium`) or set CHROMIUM"))?;
    Ok(CHROMIUM.to_owned())
}
