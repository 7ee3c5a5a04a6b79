//! Group commit seen from outside: transactions sent together share commits, yet each one
//! succeeds or fails on its own — a failing transaction in a group rolls back only itself — and
//! every answered success is in the file when it is opened again.
#![expect(clippy::expect_used, reason = "a test fails loudly on any unexpected error")]

use std::sync::Arc;
use stowage_domain::bucket::Namespace;
use stowage_domain::error::RepoError;
use stowage_domain::ids::{IdSuffix, NamespaceId};
use stowage_domain::names::NamespaceName;
use stowage_domain::ports::TenancyRepo;
use stowage_sqlite::SqliteRepository;

fn namespace(n: usize, name: &str) -> Namespace {
    Namespace {
        id: NamespaceId::new(&IdSuffix::parse(&format!("{n:016}")).expect("16 digits")),
        name: NamespaceName::parse(name).expect("name"),
        description: None,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_transaction_in_a_group_rolls_back_alone_and_every_success_is_durable() {
    let path = std::env::temp_dir().join(format!("stowage-group-commit-{}.db", std::process::id()));
    let file = path.display().to_string();
    let repo = Arc::new(SqliteRepository::open(&file).await.expect("open"));
    repo.create_namespace(&namespace(0, "taken")).await.expect("first");

    // 64 creates at once: the even ones new, the odd ones reusing the taken name.
    let creates = (1..=64).map(|n| {
        let repo = Arc::clone(&repo);
        tokio::spawn(async move {
            let ns = if n % 2 == 0 { namespace(n, &format!("ns-{n}")) } else { namespace(n, "taken") };
            (n, repo.create_namespace(&ns).await)
        })
    });
    let results: Vec<(usize, Result<(), RepoError>)> =
        futures_join(creates.collect()).await.into_iter().map(|r| r.expect("task")).collect();
    for (n, result) in &results {
        if n % 2 == 0 {
            assert_eq!(result, &Ok(()), "namespace {n}");
        } else {
            assert!(matches!(result, Err(RepoError::AlreadyExists(_))), "namespace {n}: {result:?}");
        }
    }
    drop(repo);

    // Reopened: every success is there, no failure left a row.
    let reopened = SqliteRepository::open(&file).await.expect("reopen");
    for n in 1..=64 {
        let id = namespace(n, "x").id;
        let found = reopened.find_namespace(id.as_str()).await.expect("find");
        assert_eq!(found.is_some(), n % 2 == 0, "namespace {n}");
    }
    assert_eq!(reopened.find_namespace("taken").await.expect("find").map(|ns| ns.id), Some(namespace(0, "x").id));
    drop(reopened);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{file}{suffix}"));
    }
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await);
    }
    out
}
