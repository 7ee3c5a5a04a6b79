//! The results: printed as they come, and written to docs/benchmarks.md with the command, the
//! machine and the date.

use std::fmt::Write as _;
use std::time::Duration;

/// One benchmark's results as Markdown, with the points it adds to the concurrency plot.
pub struct Section {
    pub title: String,
    pub body: String,
    pub points: Vec<Point>,
}

/// One measurement of the concurrency sweep.
#[derive(Debug, Clone)]
pub struct Point {
    /// The backend (a line of the plot).
    pub series: String,
    pub clients: usize,
    pub throughput: f64,
    pub p99_ms: f64,
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "### {}\n\n{}", self.title, self.body)
    }
}

pub struct Report {
    which: String,
    sections: Vec<Section>,
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {:.1} GiB memory", mem_kib as f64 / 1024.0 / 1024.0)
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

impl Report {
    pub fn new(which: &str) -> Self {
        Self { which: which.to_owned(), sections: Vec::new() }
    }

    pub fn add(&mut self, section: Section) {
        self.sections.push(section);
    }

    /// Writes the report: to docs/benchmarks.md (and the plot beside it), or, for a `--quick`
    /// smoke run, to the target directory only.
    pub fn finish(self, elapsed: Duration, quick: bool) {
        let mut md = String::from("# Benchmarks\n\n");
        let _ = writeln!(
            md,
            "Latest figures of `cargo xtask bench {}`, run {} on {}; the whole run took {:.0} s.",
            self.which,
            today(),
            machine(),
            elapsed.as_secs_f64()
        );
        md.push_str(
            "\nEvery ratio compares stowage with a ceiling measured in the same run on the same machine \
             (see each section). Servers: PostgreSQL 15 and Garage 2.5.0 on the same host, sharing its cores \
             with stowage and the load generator. Medians of 3 rounds after a warm-up; fixed seeds.\n\n",
        );
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs");
        let dir = if quick {
            std::env::var("CARGO_TARGET_DIR")
                .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../target").to_owned())
        } else {
            docs.to_owned()
        };
        let points: Vec<Point> = self.sections.iter().flat_map(|s| s.points.clone()).collect();
        if !points.is_empty() {
            let svg = format!("{dir}/benchmarks-concurrency.svg");
            match crate::plot::concurrency(&svg, &points) {
                Ok(()) => {
                    md.push_str(
                        "![Confirm throughput and p99 against clients, both backends](benchmarks-concurrency.svg)\n\n",
                    );
                    println!("wrote {svg}");
                }
                Err(e) => panic!("cannot draw {svg}: {e}"),
            }
        }
        for s in &self.sections {
            let _ = writeln!(md, "{s}");
        }
        md.push_str(crate::scenarios::NOTES);
        let path = format!("{dir}/{}", if quick { "benchmarks-quick.md" } else { "benchmarks.md" });
        match std::fs::write(&path, md) {
            Ok(()) => println!("\nwrote {path}"),
            Err(e) => panic!("cannot write {path}: {e}"),
        }
    }
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
