//! Retries against a real HTTP server on localhost that fails on purpose: 5xx answers and dropped
//! connections are retried with backoff, 4xx answers are not, and a server that never answers
//! ends in `Unreachable`.
#![expect(clippy::unwrap_used, reason = "a test fails loudly on any unexpected error")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use stowage_client::{Client, ClientError, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the server treats request number `n` (from 0).
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    Hangup,
}

/// Serves `script(n)` to the n-th request; returns its URL and the request counter.
async fn server(script: fn(usize) -> Answer) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0u8; 64 * 1024];
            let mut read = 0;
            // Read the head and a body as long as Content-Length says.
            loop {
                let n = socket.read(&mut buffer[read..]).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                read += n;
                let text = String::from_utf8_lossy(&buffer[..read]).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if read >= end + 4 + length {
                        break;
                    }
                }
            }
            let n = seen.fetch_add(1, Ordering::SeqCst);
            match script(n) {
                Answer::Hangup => drop(socket),
                Answer::Status(status) => {
                    let body = if status == 200 {
                        r#"{"results":[{"bucket_id":"bkt_AAAAAAAAAAAAAAAA"}],"total":1}"#.to_owned()
                    } else {
                        format!(
                            r#"{{"success":false,"status":{status},"error":{{"code":"nope","message":"scripted","type":"X"}}}}"#
                        )
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                }
            }
        }
    });
    (url, count)
}

fn client(url: &str) -> Client {
    let options = Options { attempts: 4, backoff: Duration::from_millis(10), ..Options::default() };
    Client::new(url, "sk_test", None, options).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_dropped_connections_are_retried_until_an_answer() {
    let (url, count) = server(|n| match n {
        0 => Answer::Status(503),
        1 => Answer::Hangup,
        2 => Answer::Status(500),
        _ => Answer::Status(200),
    })
    .await;
    assert_eq!(client(&url).list_buckets().await.unwrap(), ["bkt_AAAAAAAAAAAAAAAA"]);
    assert_eq!(count.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_is_not_retried() {
    let (url, count) = server(|_| Answer::Status(404)).await;
    let err = client(&url).list_buckets().await.unwrap_err();
    assert!(matches!(&err, ClientError::Api { status: 404, code, .. } if code == "nope"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_keeps_failing_is_given_up_on_after_the_attempts() {
    let (url, count) = server(|_| Answer::Status(503)).await;
    let err = client(&url).list_buckets().await.unwrap_err();
    assert!(matches!(err, ClientError::Api { status: 503, .. }), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 4);

    let (url, _) = server(|_| Answer::Hangup).await;
    let err = client(&url).list_buckets().await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
}
