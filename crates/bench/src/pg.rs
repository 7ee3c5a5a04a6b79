//! PostgreSQL helpers: psql for setup, pgbench for ceilings.

use crate::server::BenchEnv;
use tokio::process::Command;

/// Runs SQL with psql; returns trimmed unaligned output.
pub async fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql").args([url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]).output().await.expect("run psql");
    assert!(out.status.success(), "psql failed on `{sql}`: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub async fn recreate_database(env: &BenchEnv, db: &str) {
    psql(&env.admin_url, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
    psql(&env.admin_url, &format!("CREATE DATABASE {db}")).await;
}

/// Runs `script` with pgbench: `clients` connections, `transactions` each; returns transactions
/// per second (excluding connection setup).
pub async fn pgbench(url: &str, script: &str, clients: usize, transactions: usize) -> f64 {
    let path = std::env::temp_dir().join(format!("stowage-bench-{}.sql", std::process::id()));
    tokio::fs::write(&path, script).await.expect("write script");
    let out = Command::new("pgbench")
        .args(["-n", "-f"])
        .arg(&path)
        .args(["-c", &clients.to_string(), "-j", "2", "-t", &transactions.to_string(), url])
        .output()
        .await
        .expect("run pgbench (apt-get install postgresql-contrib or postgresql-client)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pgbench failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let failed = stdout.lines().find(|l| l.contains("number of failed transactions")).unwrap_or_default().to_owned();
    assert!(failed.is_empty() || failed.contains(": 0 "), "pgbench transactions failed: {failed}");
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .expect("pgbench reported tps")
}
