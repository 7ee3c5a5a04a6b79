//! The results: printed as they come, and written to docs/benchmarks.md with the command, the
//! machine and the date.

use std::fmt::Write as _;
use std::time::Duration;

/// One benchmark's results as Markdown.
pub struct Section {
    pub title: String,
    pub body: String,
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

    pub fn finish(self, elapsed: Duration) {
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
        for s in &self.sections {
            let _ = writeln!(md, "{s}");
        }
        md.push_str(crate::scenarios::NOTES);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/benchmarks.md");
        match std::fs::write(path, md) {
            Ok(()) => println!("\nwrote docs/benchmarks.md"),
            Err(e) => eprintln!("cannot write docs/benchmarks.md: {e}"),
        }
    }
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
