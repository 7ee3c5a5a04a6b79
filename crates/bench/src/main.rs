//! `stowage-bench`: stowage's benchmarks, run by `cargo xtask bench [confirm|create|hash|scale|all]`.
//!
//! Each benchmark runs the real release binary against PostgreSQL and the S3 test server, and
//! reports a ratio against a ceiling measured in the same run on the same machine: pgbench running
//! the SQL stowage itself issued (captured from PostgreSQL's statement log, not written by hand)
//! for confirm and create, and `curl | sha256sum` for hashing. Rounds are repeated and the median
//! reported; seeds are fixed. Results are printed and written to docs/benchmarks.md.
#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![expect(clippy::expect_used, reason = "a benchmark aborts loudly on any unexpected error")]

mod api;
mod capture;
mod embedded;
mod load;
mod pg;
mod plot;
mod report;
mod scenarios;
mod server;

use std::time::Instant;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    scenarios::QUICK.store(quick, std::sync::atomic::Ordering::Relaxed);
    let which = args.iter().find(|a| !a.starts_with("--")).cloned().unwrap_or_else(|| "all".to_owned());
    let selected: Vec<&str> = match which.as_str() {
        "all" => vec!["confirm", "embedded", "create", "hash", "scale"],
        // The confirm benchmark's smoke run covers both backends.
        "confirm" if quick => vec!["confirm", "embedded"],
        one @ ("confirm" | "embedded" | "create" | "hash" | "scale") => vec![one],
        other => {
            eprintln!("usage: stowage-bench [confirm|embedded|create|hash|scale|all] [--quick] (got `{other}`)");
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let env = server::BenchEnv::from_env();
    let mut report = report::Report::new(&if quick { format!("{which} --quick") } else { which.clone() });
    for name in selected {
        println!("\n== {name} ==");
        let section = match name {
            "confirm" => scenarios::confirm(&env).await,
            "create" => scenarios::create(&env).await,
            "embedded" => embedded::bench(&env).await,
            "hash" => scenarios::hash(&env).await,
            _ => scenarios::scale(&env).await,
        };
        println!("{section}");
        report.add(section);
    }
    report.finish(started.elapsed(), quick);
}
