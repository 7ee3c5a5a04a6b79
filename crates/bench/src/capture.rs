//! Captures the SQL stowage issues, from PostgreSQL's own statement log: the database is set to
//! `log_statement = 'all'`, stowage performs one operation, and the new log entries of that
//! database (statements and their bind parameters) become a pgbench script. The ceiling is thus
//! the code's real SQL, not a guess at it.

use crate::server::BenchEnv;

/// One logged statement with its parameters bound as SQL literals.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
}

fn starts_entry(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' && line.contains(" [")
}

/// `$1 = 'a', $2 = NULL, $3 = 'it''s'` → ["'a'", "NULL", "'it''s'"].
fn parse_parameters(detail: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = detail;
    while let Some(eq) = rest.find(" = ") {
        rest = &rest[eq + 3..];
        if let Some(after) = rest.strip_prefix("NULL") {
            out.push("NULL".to_owned());
            rest = after;
        } else if rest.starts_with('\'') {
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            out.push(rest[..=i.min(bytes.len() - 1)].to_owned());
            rest = &rest[(i + 1).min(rest.len())..];
        }
    }
    out
}

fn bind(sql: &str, params: &[String]) -> String {
    let mut sql = sql.to_owned();
    for (n, value) in params.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", n + 1), value);
    }
    sql
}

/// The statements logged for database `db` after byte `offset` of the log.
pub fn parse(log: &str, db: &str) -> Vec<Statement> {
    let marker = format!("@{db} ");
    let mut entries: Vec<String> = Vec::new();
    for line in log.lines() {
        if starts_entry(line) {
            entries.push(line.to_owned());
        } else if let Some(last) = entries.last_mut() {
            last.push('\n');
            last.push_str(line.trim_start_matches('\t'));
        }
    }
    let mut statements: Vec<(String, Statement)> = Vec::new();
    for entry in entries.iter().filter(|e| e.contains(&marker)) {
        let pid = entry.split(" [").nth(1).and_then(|r| r.split(']').next()).unwrap_or_default().to_owned();
        let body = entry.split_once(&marker).map(|(_, b)| b).unwrap_or_default();
        if let Some(text) = body.strip_prefix("LOG:  statement: ") {
            statements.push((pid, Statement { sql: text.to_owned() }));
        } else if let Some(text) = body.strip_prefix("LOG:  execute ") {
            let sql = text.split_once(": ").map(|(_, s)| s).unwrap_or(text);
            statements.push((pid, Statement { sql: sql.to_owned() }));
        } else if let Some(params) =
            body.strip_prefix("DETAIL:  Parameters: ").or_else(|| body.strip_prefix("DETAIL:  parameters: "))
            && let Some((_, last)) = statements.iter_mut().rev().find(|(p, _)| *p == pid)
        {
            last.sql = bind(&last.sql, &parse_parameters(params));
        }
    }
    statements.into_iter().map(|(_, s)| s).collect()
}

/// Turns captured statements into a pgbench transaction script: `replacements` swap the
/// literals of the captured operation's own rows (ids, keys, hashes) for expressions of `:n`, a
/// number drawn from a sequence so every transaction works on rows of its own.
pub fn script(statements: &[Statement], replacements: &[(String, String)]) -> String {
    let mut out = String::from("SELECT nextval('bench_n') AS n \\gset\n");
    for s in statements {
        let mut sql = s.sql.replace('\n', " ");
        for (literal, expression) in replacements {
            sql = sql.replace(&format!("'{literal}'"), expression);
        }
        out.push_str(sql.trim_end_matches(';'));
        out.push_str(";\n");
    }
    out
}

/// Runs `action` with statement logging on for `db` and returns what it issued. Logging applies
/// to sessions opened afterwards, so the caller starts stowage inside `action`.
pub async fn capture<F, Fut, T>(env: &BenchEnv, db: &str, action: F) -> (Vec<Statement>, T)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    crate::pg::psql(&env.admin_url, &format!("ALTER DATABASE {db} SET log_statement = 'all'")).await;
    let offset = std::fs::metadata(&env.pg_log).map(|m| m.len()).unwrap_or(0);
    let result = action().await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    crate::pg::psql(&env.admin_url, &format!("ALTER DATABASE {db} RESET log_statement")).await;
    let log = std::fs::read(&env.pg_log).expect("read the PostgreSQL log (STOWAGE_BENCH_PG_LOG)");
    let new = String::from_utf8_lossy(&log[usize::try_from(offset).unwrap_or(0).min(log.len())..]).into_owned();
    (parse(&new, db), result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_bound_as_literals_and_multi_line_statements_are_joined() {
        let log = "2026-11-25 06:00:00.000 UTC [42] postgres@bench LOG:  execute s0: SELECT a FROM t\n\
                   \tWHERE id = $1 AND n = $10 AND x = $2\n\
                   2026-11-25 06:00:00.000 UTC [42] postgres@bench DETAIL:  parameters: $1 = 'it''s', $2 = NULL, $3 = '3', $4 = '4', $5 = '5', $6 = '6', $7 = '7', $8 = '8', $9 = '9', $10 = '10'\n\
                   2026-11-25 06:00:00.000 UTC [43] postgres@other LOG:  statement: SELECT 2\n\
                   2026-11-25 06:00:00.000 UTC [42] postgres@bench LOG:  statement: COMMIT\n";
        let statements = parse(log, "bench");
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].sql, "SELECT a FROM t\nWHERE id = 'it''s' AND n = '10' AND x = NULL");
        assert_eq!(statements[1].sql, "COMMIT");
        let s = script(&statements, &[("it''s".to_owned(), "('x' || :n)".to_owned())]);
        assert!(s.contains("WHERE id = ('x' || :n)"), "{s}");
        assert!(s.starts_with("SELECT nextval('bench_n') AS n \\gset\n"));
    }
}
