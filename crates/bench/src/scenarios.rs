//! The four benchmarks. Sizes are chosen so `cargo xtask bench all` stays under 10 minutes on
//! 2 cores.

use crate::api::{Api, content, put};
use crate::capture::{self, Statement};
use crate::load::{self, Stats};
use crate::pg::{pgbench, psql};
use crate::report::{Point, Section, ms};
use crate::server::{BenchEnv, Server};
use serde_json::json;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

pub const CONCURRENCY: usize = 16;
/// The client counts of the concurrency sweep.
pub const SWEEP: [usize; 3] = [4, 16, 64];
pub const OBJECT_SIZE: usize = 4 * 1024;

/// `--quick`: one small round of everything (CI's smoke run), figures not written to docs/.
pub static QUICK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn quick() -> bool {
    QUICK.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn rounds() -> usize {
    if quick() { 1 } else { 3 }
}

pub fn confirms_per_round() -> usize {
    if quick() { 64 } else { 500 }
}

pub fn creates_per_round() -> usize {
    if quick() { 100 } else { 1_000 }
}

pub fn warm_up() -> usize {
    if quick() { 8 } else { 50 }
}
const DB: &str = "stowage_bench";
pub(crate) const BUCKET: &str = "bench";

/// Notes appended to docs/benchmarks.md.
pub const NOTES: &str = "\
## How to read this

- **confirm / create** (PostgreSQL + S3): `stowage serve` (release build) answers HTTP requests from \
a closed-loop Rust load generator (`crates/bench`) with 16 concurrent clients. The ceiling is pgbench \
running, at the same concurrency against the same database, the exact statements stowage issued for \
one such request — captured from PostgreSQL's statement log during the run, with the request's own ids \
replaced per transaction (one `nextval` per transaction is added for that). The ratio is stowage's \
throughput over pgbench's: what remains of the database's capacity once HTTP, authentication, \
HeadObject and the rest of the service are added, on the same 2 cores. Beside it, pgbench runs a fixed \
script, `crates/bench/sql/confirm-one-commit-2026-11.sql`: the confirm SQL stowage ran until 2026-12 \
(12 statements; every confirm of a bucket updated the bucket's and the namespace's usage row, so \
they committed one at a time) — the \"one commit per confirm\" reference the gain is measured against.
- **embedded default**: `stowage serve` with no configuration (SQLite, local disk) under the same \
load. Its ceiling is the SQLite repository driven directly by the bench — per confirm the read a \
request makes (the upload; namespace and bucket come from stowage's caches) and the confirmation's \
transaction; per create the insert (the bucket, too, comes from the cache) — through the same adapter and driver, with its group commit, without HTTP, \
authentication or the store. The same with group size 1 is the one-commit-per-confirm reference.
- **concurrency sweep**: declared-checksum confirms at 4, 16 and 64 clients on both backends, one \
round each; the plot at the top draws them.
- **hash**: the time `sha256sum` needs for the bytes `curl` reads from the S3 server with a presigned \
GET, over the time a synchronous confirm of the same 1 GiB needs (HeadObject + streaming SHA-256 and \
MD5 + the transaction); peak RSS is the server's VmHWM, reset just before the confirm.
- **scale**: confirm latency with 10^4 and with 10^6 other uploads in the table.
- **before and after**: the ratios above hold within one run; CPU per confirm across builds is \
compared only on one machine, close in time. [benchmarks-before-15.md](benchmarks-before-15.md) \
is the build issue #15 started from, measured on 2026-12-04 beside a run of the build after it.
- **CPU tables**: CPU time per request of the stowage process, of the load generator and of \
everything else on the machine (PostgreSQL, Garage, the kernel), from /proc over each round (the \
machine's busy time without steal, the time the hypervisor gave other guests); the table gives each \
column's median over the rounds and the range of the total. On this shared VM the figures of one \
build still move by ±15% or more from one run to the next.

## What limits each figure now

- **confirm on PostgreSQL + S3: the 2 cores.** Throughput × CPU per confirm (CPU table) is about the \
machine's 2 CPU-seconds per second, so more clients add latency, not throughput (the sweep flattens \
from 16 to 64 clients). The database is no longer the limit: a bucket's usage is 16 shard rows \
instead of one counter on the bucket's row, so confirms of one bucket no longer commit one at a time \
behind that row's lock, and PostgreSQL flushes their commits together; every statement of the \
transaction stays prepared on its connection (diesel would parse and plan the `UPDATE`, the upserts \
and the inserts of rows with optional fields anew on each call), the writes nothing waits on (usage, \
object and blob, the upload's new state) are pipelined in two round trips instead of four, and the \
bucket's rules come from a cache (a bucket's settings never change; its usage is checked in the transaction). Of the CPU, \
about a third is stowage's own process (HTTP, JSON, the AWS SDK's signed HeadObject, diesel) and two \
thirds PostgreSQL running the confirm's statements (listed above), Garage answering HeadObject, and \
the kernel's loopback TCP. The GET + hash variant pays one more S3 round trip and Garage streaming \
the bytes.
- **embedded default: stowage's one process.** SQLite group-commits: one durable commit \
(`synchronous = FULL`) per group of waiting transactions, which is why it beats one commit per \
confirm through the same adapter; the rest of its ceiling is spent on HTTP, authentication, JSON and \
the disk store's checks.
- **create on PostgreSQL + S3: the 2 cores.** pgbench's ceiling runs one create's statement (the \
upload's insert; the bucket comes from stowage's cache, as for a confirm) as a transaction of its \
own, and spends nothing on HTTP, JSON or presigning. stowage commits the inserts of concurrent creates together (one multi-row `INSERT` \
per group, each create answered after its group's commit), which spends less of PostgreSQL per \
create than one commit each, and signs each PUT with `aws-sigv4` directly instead of through the \
SDK's operation pipeline (endpoint rules, interceptors: about a fifth of its CPU per create before); \
what remains is HTTP, JSON and presigning.
- **hash ≥ 0.8 of `sha256sum`, peak RSS < 64 MiB**: met; the stream is hashed chunk by chunk as the \
SDK yields it, so memory stays flat whatever the size.
- **scale**: keyset indexes keep confirm flat from 10^4 to 10^6 uploads.
";

pub(crate) const CPU_HEAD: &str = "Where the 2 cores went (CPU time per request, median of the rounds; the total's range over the rounds in brackets; the machine has 2 s of CPU per wall second):\n\n| run | stowage process | load generator | everything else (PostgreSQL, Garage, kernel) | total |\n|---|---|---|---|---|\n";

/// CPU time of stowage, of this load generator and of the whole machine over one run.
pub(crate) struct CpuProfile {
    server: f64,
    generator: f64,
    machine: f64,
}

fn machine_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<f64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0.0)).collect();
    // user, nice, system, irq, softirq: busy time, in clock ticks (100 per second). Not steal:
    // time the hypervisor gave another guest while this machine's processes waited to run.
    [0, 1, 2, 5, 6].iter().map(|i| cpu.get(*i).copied().unwrap_or(0.0)).sum::<f64>() / 100.0
}

impl CpuProfile {
    pub(crate) fn start(server: &Server) -> Self {
        Self {
            server: server.cpu_seconds(),
            generator: crate::server::cpu_seconds_of("self"),
            machine: machine_cpu_seconds(),
        }
    }

    /// CPU seconds per request since [`CpuProfile::start`].
    pub(crate) fn sample(&self, server: &Server, stats: &Stats) -> CpuSample {
        let n = stats.requests.max(1) as f64;
        let stowage = (server.cpu_seconds() - self.server) / n;
        let generator = (crate::server::cpu_seconds_of("self") - self.generator) / n;
        let total = (machine_cpu_seconds() - self.machine) / n;
        CpuSample { stowage, generator, other: (total - stowage - generator).max(0.0) }
    }
}

/// CPU seconds per request of one round, by where they went.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSample {
    stowage: f64,
    generator: f64,
    other: f64,
}

impl CpuSample {
    fn total(&self) -> f64 {
        self.stowage + self.generator + self.other
    }

    /// The CPU table's row of `name`: each column's median over `rounds`, and the totals' range
    /// (one round's /proc figures swing by a fifth on a shared VM; the median is what to compare).
    pub(crate) fn row(name: &str, rounds: &[CpuSample]) -> String {
        let column = |f: fn(&CpuSample) -> f64| load::median(rounds.iter().map(f).collect()) * 1e3;
        let totals: Vec<f64> = rounds.iter().map(CpuSample::total).collect();
        let (low, high) = totals.iter().fold((f64::MAX, 0.0_f64), |(l, h), t| (l.min(*t), h.max(*t)));
        format!(
            "| {name} | {:.2} ms | {:.2} ms | {:.2} ms | **{:.2} ms** ({:.2}–{:.2}) |\n",
            column(|s| s.stowage),
            column(|s| s.generator),
            column(|s| s.other),
            column(CpuSample::total),
            low * 1e3,
            high * 1e3
        )
    }
}

pub(crate) async fn new_api(env: &BenchEnv) -> (Server, Api) {
    let server = Server::fresh(env, DB).await;
    let api = Api::new(&server);
    api.bucket(BUCKET, json!({"async_threshold_bytes": 4_294_967_296_u64})).await;
    (server, api)
}

/// Prepares `n` uploads with distinct 4 KiB objects already PUT.
pub(crate) async fn prepare(api: &Api, first_seed: u64, n: usize, declare_sha: bool) -> Vec<String> {
    let seeds: Vec<u64> = (first_seed..first_seed + n as u64).collect();
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let (api2, ids2) = (api.clone(), ids.clone());
    load::run(seeds, CONCURRENCY, move |seed| {
        let (api, ids) = (api2.clone(), ids2.clone());
        async move {
            let id = api.prepared_upload(BUCKET, content(*seed, OBJECT_SIZE), declare_sha).await;
            ids.lock().expect("ids").push(id);
            true
        }
    })
    .await;
    ids.lock().expect("ids").clone()
}

pub(crate) async fn confirm_all(api: &Api, ids: Vec<String>, clients: usize) -> Stats {
    let api = api.clone();
    load::run(ids, clients, move |id| {
        let api = api.clone();
        async move {
            let (status, body) = api.post(&format!("/v1/buckets/{BUCKET}/uploads/{id}/confirm"), &json!({})).await;
            status == 200 && body["status"] == "COMPLETED"
        }
    })
    .await
}

pub(crate) fn stats_row(name: &str, s: &Stats, ceiling: Option<f64>) -> String {
    let ratio = ceiling.map_or_else(|| "–".to_owned(), |c| format!("**{:.2}**", s.throughput() / c));
    format!(
        "| {name} | {:.0}/s | {} | {} | {} | {} | {ratio} |\n",
        s.throughput(),
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        s.errors
    )
}

pub(crate) const TABLE_HEAD: &str =
    "| run | throughput | p50 | p90 | p99 | errors | ratio to ceiling |\n|---|---|---|---|---|---|---|\n";

/// Inserts copies of upload `template` numbered `g` in `first..=last`; `column` gives the SQL
/// expression (of `g`) for the columns that must differ, `None` to copy the template's value.
async fn copy_upload(
    env: &BenchEnv,
    template: &str,
    first: usize,
    last: usize,
    column: impl Fn(&str) -> Option<String>,
) {
    let url = env.db_url(DB);
    let columns = psql(&url, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'uploads'").await;
    let select: Vec<String> = columns.split(',').map(|c| column(c).unwrap_or_else(|| c.to_owned())).collect();
    let sql = format!(
        "INSERT INTO uploads ({columns}) SELECT {} FROM uploads, generate_series({first}, {last}) g WHERE id = '{template}'",
        select.join(",")
    );
    psql(&url, &sql).await;
}

/// Copies upload `template` `m` times as PENDING rows with ids and keys numbered 1..=m, and
/// resets the sequence pgbench numbers its transactions with.
async fn pgbench_rows(env: &BenchEnv, template: &str, m: usize, status: &str, id_prefix: &str) {
    copy_upload(env, template, 1, m, |c| match c {
        "id" => Some(format!("'{id_prefix}' || lpad(g::text, 16, '0')")),
        "s3_key" => Some(format!("'{id_prefix}/' || lpad(g::text, 16, '0')")),
        "idempotency_key" => Some("NULL".to_owned()),
        "status" => Some(format!("'{status}'")),
        _ => None,
    })
    .await;
    let url = env.db_url(DB);
    psql(&url, "DROP SEQUENCE IF EXISTS bench_n; CREATE SEQUENCE bench_n").await;
}

async fn ceiling(env: &BenchEnv, script: &str, transactions: usize) -> f64 {
    let url = env.db_url(DB);
    let mut runs = Vec::new();
    for _ in 0..rounds() {
        runs.push(pgbench(&url, script, CONCURRENCY, transactions / CONCURRENCY).await);
    }
    load::median(runs)
}

fn script_listing(statements: &[Statement]) -> String {
    statements
        .iter()
        .map(|s| {
            format!(
                "    {}",
                s.sql.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(160).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The statements of one confirm, captured with a warm server (key cached, pool connected).
async fn capture_confirm(
    env: &BenchEnv,
    server: Server,
    api: &Api,
) -> (Vec<Statement>, Vec<(String, String)>, String, Server) {
    let ids = prepare(api, 1, 3, false).await;
    let (warm, target, template) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let key = server.key.clone();
    server.stop().await;
    psql(&env.admin_url, &format!("ALTER DATABASE {DB} SET log_statement = 'all'")).await;
    let server = Server::start(env, DB, key).await;
    let api = Api { base: server.url(""), ..api.clone() };
    api.post(&format!("/v1/buckets/{BUCKET}/uploads/{warm}/confirm"), &json!({})).await;
    let (statements, receipt) = capture::capture(env, DB, || async {
        api.post(&format!("/v1/buckets/{BUCKET}/uploads/{target}/confirm"), &json!({})).await.1
    })
    .await;
    psql(&env.admin_url, &format!("ALTER DATABASE {DB} RESET log_statement")).await;
    let object = receipt["object_id"].as_str().expect("object id").to_owned();
    let hash = receipt["file_hash"].as_str().expect("file hash").to_owned();
    let url = env.db_url(DB);
    let blob = psql(&url, &format!("SELECT id FROM blobs WHERE object_id = '{object}'")).await;
    let key_of = psql(&url, &format!("SELECT s3_key FROM uploads WHERE id = '{target}'")).await;
    let replacements = vec![
        (target.clone(), "('upl_' || lpad(:n::text, 16, '0'))".to_owned()),
        (key_of, "('upl_/' || lpad(:n::text, 16, '0'))".to_owned()),
        (object, "('obj_' || lpad(:n::text, 16, '0'))".to_owned()),
        (blob, "('blob_' || lpad(:n::text, 16, '0'))".to_owned()),
        (hash, "lpad(:n::text, 64, '0')".to_owned()),
    ];
    (statements, replacements, template, server)
}

/// The fixed "one commit per confirm" reference script.
const ONE_COMMIT_SCRIPT: &str = include_str!("../sql/confirm-one-commit-2026-11.sql");

/// Confirms (declared checksum) at each client count of [`SWEEP`], one round each: the table's
/// rows and the plot's points of `series`.
pub(crate) async fn sweep(api: &Api, series: &str) -> (String, Vec<Point>) {
    let mut rows = format!(
        "Concurrency sweep, {series} (declared SHA-256, {} confirms per client count):\n\n\
         | clients | throughput | p50 | p99 | errors |\n|---|---|---|---|---|\n",
        confirms_per_round()
    );
    let mut points = Vec::new();
    for (i, clients) in SWEEP.into_iter().enumerate() {
        let ids = prepare(api, 700_000 + 10_000 * i as u64, confirms_per_round(), true).await;
        let stats = confirm_all(api, ids, clients).await;
        println!("  sweep {series}, {clients} clients: {:.0}/s p99 {}", stats.throughput(), ms(stats.p99));
        let _ = writeln!(
            rows,
            "| {clients} | {:.0}/s | {} | {} | {} |",
            stats.throughput(),
            ms(stats.p50),
            ms(stats.p99),
            stats.errors
        );
        points.push(Point {
            series: series.to_owned(),
            clients,
            throughput: stats.throughput(),
            p99_ms: stats.p99.as_secs_f64() * 1e3,
        });
    }
    (rows, points)
}

/// For each `(variant, declare_sha)`: a warm-up, then [`rounds`] rounds of confirms at
/// [`CONCURRENCY`] clients; the median run of each variant and the CPU table's rows.
pub(crate) async fn confirm_rounds<'v>(
    api: &Api,
    server: &Server,
    label: &str,
    variants: [(&'v str, bool); 2],
) -> (Vec<(&'v str, Stats)>, String) {
    let mut results = Vec::new();
    let mut cpu = String::new();
    for (variant, declare_sha) in variants {
        confirm_all(api, prepare(api, 10_000, warm_up(), declare_sha).await, CONCURRENCY).await;
        let mut runs = Vec::new();
        let mut samples = Vec::new();
        for round in 0..rounds() {
            let seed = 100_000 * (round as u64 + 1) + if declare_sha { 50_000 } else { 0 };
            let ids = prepare(api, seed, confirms_per_round(), declare_sha).await;
            let profile = CpuProfile::start(server);
            let stats = confirm_all(api, ids, CONCURRENCY).await;
            samples.push(profile.sample(server, &stats));
            println!(
                "  {label} round {round}, {variant}: {:.0}/s p50 {} errors {}",
                stats.throughput(),
                ms(stats.p50),
                stats.errors
            );
            runs.push(stats);
        }
        cpu.push_str(&CpuSample::row(&format!("{label}, {variant}"), &samples));
        results.push((variant, load::median_run(runs)));
    }
    (results, cpu)
}

pub async fn confirm(env: &BenchEnv) -> Section {
    let (server, api) = new_api(env).await;
    let (statements, replacements, template, server) = capture_confirm(env, server, &api).await;
    let api = Api { base: server.url(""), ..api };
    assert!(
        statements.iter().any(|s| s.sql.starts_with("UPDATE \"uploads\"")),
        "no confirm statements captured: {statements:?}"
    );

    let mut body = String::new();
    let mut rows = String::new();
    let variants = [("declared SHA-256 (checksum signed; no GET)", true), ("no declared SHA-256 (GET + hash)", false)];
    let (results, cpu) = confirm_rounds(&api, &server, "confirm", variants).await;
    let (sweep_rows, points) = sweep(&api, "PostgreSQL + S3 (Garage)").await;
    server.stop().await;

    pgbench_rows(env, &template, rounds() * confirms_per_round() + 64, "PENDING", "upl_").await;
    let script = capture::script(&statements, &replacements);
    let ceiling_tps = ceiling(env, &script, confirms_per_round()).await;
    // The fixed reference: the confirm SQL of 2026-11, one commit per confirm (crates/bench/sql).
    psql(
        &env.db_url(DB),
        "DELETE FROM blobs WHERE id LIKE 'blob_000000%'; DELETE FROM objects WHERE id LIKE 'obj_000000%'; \
         DELETE FROM content_claims WHERE upload_id LIKE 'upl_000000%'; \
         DELETE FROM uploads WHERE id LIKE 'upl_000000%'",
    )
    .await;
    pgbench_rows(env, &template, rounds() * confirms_per_round() + 64, "PENDING", "upl_").await;
    let ids =
        psql(&env.db_url(DB), &format!("SELECT namespace_id || ' ' || bucket_id FROM uploads WHERE id = '{template}'"))
            .await;
    let (namespace, bucket) = ids.split_once(' ').expect("namespace and bucket of the template");
    let one_commit = ONE_COMMIT_SCRIPT.replace("{namespace}", namespace).replace("{bucket}", bucket);
    let one_commit_tps = ceiling(env, &one_commit, confirms_per_round()).await;
    for (variant, stats) in &results {
        rows.push_str(&stats_row(&format!("stowage confirm, {variant}"), stats, Some(ceiling_tps)));
        println!(
            "confirm {variant}: {:.0}/s, p50 {}, ratio {:.2}",
            stats.throughput(),
            ms(stats.p50),
            stats.throughput() / ceiling_tps
        );
    }
    rows.push_str(&format!("| pgbench, stowage's confirm SQL (ceiling) | {ceiling_tps:.0}/s | | | | 0 | 1.00 |\n"));
    rows.push_str(&format!(
        "| pgbench, the confirm SQL of 2026-11 (one commit per confirm; fixed script) | {one_commit_tps:.0}/s | | | | 0 | {:.2} |\n",
        one_commit_tps / ceiling_tps
    ));
    let declared = &results[0].1;
    println!(
        "one commit per confirm (2026-11 SQL): {one_commit_tps:.0}/s; declared-checksum confirm is {:.2}x that",
        declared.throughput() / one_commit_tps
    );
    let _ = write!(
        body,
        "{} confirms per round of distinct {OBJECT_SIZE}-byte objects already PUT, {CONCURRENCY} clients.\n\n{TABLE_HEAD}{rows}\n\
         Declared-checksum confirms against the fixed one-commit-per-confirm reference \
         (`crates/bench/sql/confirm-one-commit-2026-11.sql`, the SQL stowage ran until 2026-12): **{:.2}×**.\n\n\
         {CPU_HEAD}{cpu}\n{sweep_rows}\n\
         The {} statements of one confirm, as captured (parameters bound):\n\n{}\n",
        confirms_per_round(),
        declared.throughput() / one_commit_tps,
        statements.len(),
        script_listing(&statements)
    );
    Section { title: "confirm".to_owned(), body, points }
}

pub async fn create(env: &BenchEnv) -> Section {
    let (server, api) = new_api(env).await;
    let key = server.key.clone();
    // Capture one create with a warm server.
    server.stop().await;
    psql(&env.admin_url, &format!("ALTER DATABASE {DB} SET log_statement = 'all'")).await;
    let server = Server::start(env, DB, key).await;
    let api = Api { base: server.url(""), ..api };
    let request =
        json!({"filename": "object.bin", "content_type": "application/octet-stream", "file_size_bytes": OBJECT_SIZE});
    api.post(&format!("/v1/buckets/{BUCKET}/uploads"), &request).await;
    let (statements, created) =
        capture::capture(env, DB, || async { api.post(&format!("/v1/buckets/{BUCKET}/uploads"), &request).await.1 })
            .await;
    psql(&env.admin_url, &format!("ALTER DATABASE {DB} RESET log_statement")).await;
    let id = created["upload_id"].as_str().expect("upload id").to_owned();
    let key_of = created["s3_key"].as_str().expect("key").to_owned();

    let requests: Vec<usize> = (0..warm_up()).collect();
    let send = {
        let api = api.clone();
        let request = request.clone();
        move |_: Arc<usize>| {
            let (api, request) = (api.clone(), request.clone());
            async move { api.post(&format!("/v1/buckets/{BUCKET}/uploads"), &request).await.0 == 200 }
        }
    };
    load::run(requests, CONCURRENCY, send.clone()).await;
    psql(&env.db_url(DB), "DROP SEQUENCE IF EXISTS bench_n; CREATE SEQUENCE bench_n").await;
    let replacements = vec![
        (id, "('upl_' || lpad(:n::text, 16, '0'))".to_owned()),
        (key_of, "('c/' || lpad(:n::text, 16, '0'))".to_owned()),
    ];
    let script = capture::script(&statements, &replacements);
    // Rounds of stowage and of its ceiling alternate, so that a slow minute of the machine
    // weighs on both sides of the ratio alike.
    let (mut runs, mut samples, mut ceilings) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds() {
        let profile = CpuProfile::start(&server);
        let stats = load::run((0..creates_per_round()).collect(), CONCURRENCY, send.clone()).await;
        samples.push(profile.sample(&server, &stats));
        runs.push(stats);
        ceilings.push(pgbench(&env.db_url(DB), &script, CONCURRENCY, creates_per_round() / CONCURRENCY).await);
    }
    server.stop().await;
    let cpu = CpuSample::row("create upload", &samples);
    let stats = load::median_run(runs);
    let ceiling_tps = load::median(ceilings);
    println!(
        "create: {:.0}/s, p50 {}, ratio {:.2}",
        stats.throughput(),
        ms(stats.p50),
        stats.throughput() / ceiling_tps
    );
    let body = format!(
        "{} creates per round (presign + insert), {CONCURRENCY} clients.\n\n{TABLE_HEAD}{}| pgbench, stowage's create SQL (ceiling) | {ceiling_tps:.0}/s | | | | 0 | 1.00 |\n\n{CPU_HEAD}{cpu}\n\
         The {} statements of one create, as captured:\n\n{}\n",
        creates_per_round(),
        stats_row("stowage create upload", &stats, Some(ceiling_tps)),
        statements.len(),
        script_listing(&statements)
    );
    Section { title: "create".to_owned(), body, points: Vec::new() }
}

pub async fn hash(env: &BenchEnv) -> Section {
    const GIB: u64 = 1024 * 1024 * 1024;
    let (server, api) = new_api(env).await;
    let dir = std::env::temp_dir().join(format!("stowage-bench-{}", std::process::id()));
    tokio::fs::create_dir_all(&dir).await.expect("temp dir");
    let path = dir.join("one.gib");
    {
        use tokio::io::AsyncWriteExt;
        let mut file = tokio::fs::File::create(&path).await.expect("create");
        for block in 0..1024 {
            file.write_all(&content(block, 1024 * 1024)).await.expect("write");
        }
        file.flush().await.expect("flush");
    }
    let mut stowage_times = Vec::new();
    let mut baseline_times = Vec::new();
    let mut peaks = Vec::new();
    let mut agree = true;
    for _ in 0..rounds() {
        let request =
            json!({"filename": "one.gib", "content_type": "application/octet-stream", "file_size_bytes": GIB});
        let (_, upload) = api.post(&format!("/v1/buckets/{BUCKET}/uploads"), &request).await;
        let file = tokio::fs::File::open(&path).await.expect("open");
        put(&api.client, &upload, reqwest::Body::from(file)).await;
        let id = upload["upload_id"].as_str().expect("id");
        server.reset_peak_rss();
        let started = Instant::now();
        let (status, receipt) = api.post(&format!("/v1/buckets/{BUCKET}/uploads/{id}/confirm"), &json!({})).await;
        stowage_times.push(started.elapsed().as_secs_f64());
        peaks.push(server.peak_rss_kib() as f64);
        assert_eq!(status, 200, "{receipt}");

        let object = receipt["object_id"].as_str().expect("object");
        let response = api
            .client
            .get(format!("{}/v1/buckets/{BUCKET}/objects/{object}?return_presigned_urls=true", api.base))
            .bearer_auth(&api.key)
            .send()
            .await
            .expect("object");
        let object: serde_json::Value = response.json().await.expect("json");
        let url = object["blobs"][0]["presigned_url"].as_str().expect("url").to_owned();
        let started = Instant::now();
        let out = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("curl -sf '{url}' | sha256sum"))
            .output()
            .await
            .expect("curl | sha256sum");
        baseline_times.push(started.elapsed().as_secs_f64());
        let baseline_hash =
            String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned();
        agree &= receipt["file_hash"].as_str() == Some(baseline_hash.as_str()) || receipt["is_duplicate"] == true;
    }
    server.stop().await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let (stowage, baseline, peak) = (load::median(stowage_times), load::median(baseline_times), load::median(peaks));
    let mib_s = |secs: f64| 1024.0 / secs;
    println!(
        "hash: stowage {:.0} MiB/s, curl|sha256sum {:.0} MiB/s, ratio {:.2}, peak RSS {:.1} MiB",
        mib_s(stowage),
        mib_s(baseline),
        baseline / stowage,
        peak / 1024.0
    );
    let body = format!(
        "Synchronous confirm of a 1 GiB object (no checksum stored, so stowage streams it through SHA-256 and MD5).\n\n\
         | run | time | throughput | peak RSS of stowage |\n|---|---|---|---|\n\
         | stowage confirm (HeadObject + stream hash + transaction) | {stowage:.2} s | {:.0} MiB/s | {:.1} MiB |\n\
         | `curl presigned GET \\| sha256sum` (ceiling) | {baseline:.2} s | {:.0} MiB/s | |\n\n\
         Ratio (ceiling time / stowage time): **{:.2}**; digests agree: {agree}.\n",
        mib_s(stowage),
        peak / 1024.0,
        mib_s(baseline),
        baseline / stowage
    );
    Section { title: "hash".to_owned(), body, points: Vec::new() }
}

pub async fn scale(env: &BenchEnv) -> Section {
    let (server, api) = new_api(env).await;
    let template = prepare(&api, 1, 1, false).await.remove(0);
    let mut rows = String::new();
    let mut filled = 0usize;
    let mut p50s = Vec::new();
    for target in [10_000usize, 1_000_000] {
        let started = Instant::now();
        copy_upload(env, &template, filled + 1, target, |c| match c {
            "id" => Some("'upl_f' || lpad(g::text, 15, '0')".to_owned()),
            "s3_key" => Some("'filler/' || g".to_owned()),
            "idempotency_key" => Some("NULL".to_owned()),
            "status" => Some("'COMPLETED'".to_owned()),
            "created_at" | "updated_at" => Some("now() - (g || ' seconds')::interval".to_owned()),
            _ => None,
        })
        .await;
        let url = env.db_url(DB);
        psql(&url, "ANALYZE uploads").await;
        filled = target;
        let fill_secs = started.elapsed().as_secs_f64();
        let ids = prepare(&api, 900_000 + target as u64, 300, false).await;
        let stats = confirm_all(&api, ids, CONCURRENCY).await;
        println!("scale {target}: confirm p50 {} (filled in {fill_secs:.0} s)", ms(stats.p50));
        rows.push_str(&format!(
            "| {target} | {} | {} | {} | {:.0}/s |\n",
            ms(stats.p50),
            ms(stats.p90),
            ms(stats.p99),
            stats.throughput()
        ));
        p50s.push(stats.p50);
    }
    server.stop().await;
    let ratio = p50s[1].as_secs_f64() / p50s[0].as_secs_f64().max(f64::EPSILON);
    let body = format!(
        "300 confirms ({CONCURRENCY} clients) with other uploads already in the table.\n\n\
         | uploads in the table | p50 | p90 | p99 | throughput |\n|---|---|---|---|---|\n{rows}\n\
         p50 at 10^6 / p50 at 10^4: **{ratio:.2}** (1.0 = no slowdown).\n"
    );
    Section { title: "scale".to_owned(), body, points: Vec::new() }
}
