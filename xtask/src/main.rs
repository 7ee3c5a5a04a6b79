//! `cargo xtask`: every developer and CI task of the repository, in Rust so it runs wherever
//! cargo does.
//!
//! - `cargo xtask test` — formatting, clippy, dependency invariants, then every test (nextest).
//! - `cargo xtask deps` — the architecture's dependency invariants.

mod deps;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("deps") => deps::check(),
        Some("lint") => lint(),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|deps|lint>\n\n  test   fmt, clippy, deps, then every test\n  deps   check the dependency invariants\n  lint   fmt and clippy only"
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

/// Runs a command, inheriting stdio; fails with its command line when it fails.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn lint() -> Result<(), String> {
    let cargo = cargo();
    run(&cargo, &["fmt", "--all", "--", "--check"])?;
    run(
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )
}

fn test(extra: &[String]) -> Result<(), String> {
    lint()?;
    deps::check()?;
    let cargo = cargo();
    let mut args = vec![
        "nextest",
        "run",
        "--workspace",
        "--locked",
        "--no-fail-fast",
    ];
    args.extend(extra.iter().map(String::as_str));
    run(&cargo, &args)
}
