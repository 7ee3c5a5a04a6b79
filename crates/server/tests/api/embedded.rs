//! The embedded default as a user meets it: `stowage serve` with no configuration in an empty
//! directory, then the README's commands — `stowage buckets create photos` and
//! `stowage upload ./some-file --bucket photos` — with no PostgreSQL and no S3 involved; then a
//! restart on the same data directory keeps the upload, the object and the bytes.

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A free local port (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The binary with nothing of the test environment: no `STOWAGE__*`, no database URL.
fn stowage(dir: &Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stowage"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("STOWAGE_URL", format!("http://127.0.0.1:{port}"));
    command
}

/// `stowage serve`, bound to `port` (the only setting), and its first lines up to the banner's end.
pub(crate) async fn serve(dir: &Path, port: u16) -> (Child, Vec<String>, Lines<BufReader<ChildStdout>>) {
    // Known before the server starts: whether it will print a first-start key after its state.
    let first_start = !dir.join("stowage-data/admin.key").exists();
    let mut child = stowage(dir, port)
        .arg("serve")
        .env("STOWAGE__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("STOWAGE__LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = if first_start { line.starts_with("sk_") } else { line.starts_with("state:") };
            banner.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read).await.expect("serve printed its banner");
    // The banner is printed once the listener is bound; wait for the API to answer.
    for _ in 0..100 {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, banner, lines)
}

async fn run(dir: &Path, port: u16, args: &[&str]) -> String {
    let out = stowage(dir, port).args(args).output().await.unwrap();
    assert!(
        out.status.success(),
        "stowage {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn stop(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_works_without_postgres_or_s3_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("stowage-quickstart-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();

    let (server, banner, _out) = serve(&dir, port).await;
    assert_eq!(banner[0], format!("stowage listening on http://127.0.0.1:{port}"), "{banner:?}");
    assert!(banner[1].contains("SQLite at stowage-data/stowage.db") && banner[1].contains("local disk"), "{banner:?}");
    assert!(banner[2].starts_with("first start:") && banner[2].contains("stowage-data/admin.key"), "{banner:?}");
    let key = banner[3].clone();
    assert!(key.starts_with("sk_"), "{banner:?}");
    let key_file = dir.join("stowage-data/admin.key");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // The README's two commands (and the bucket), with the key read from the data directory.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| u8::try_from(i % 241).unwrap()).collect();
    std::fs::write(dir.join("some-file"), &bytes).unwrap();
    assert!(run(&dir, port, &["buckets", "create", "photos"]).await.starts_with("bkt_"));
    let out = run(&dir, port, &["upload", "./some-file", "--bucket", "photos"]).await;
    let object = out.split_whitespace().find(|w| w.starts_with("obj_")).unwrap().to_owned();
    let upload = out.split_whitespace().find(|w| w.starts_with("upl_")).unwrap().trim_end_matches(',').to_owned();
    stop(server).await;

    // Restart on the same directory: no second bootstrap, everything still there.
    let (server, banner, _out) = serve(&dir, port).await;
    assert_eq!(banner.len(), 2, "no first-start lines: {banner:?}");
    let shown: Value = serde_json::from_str(&run(&dir, port, &["uploads", "get", &upload]).await).unwrap();
    assert_eq!((shown["status"].as_str(), shown["object_id"].as_str()), (Some("COMPLETED"), Some(object.as_str())));
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/buckets/photos/objects/{object}?return_presigned_urls=true");
    let fetched: Value = client.get(url).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    let download = fetched["blobs"][0]["presigned_url"].as_str().unwrap();
    assert_eq!(reqwest::get(download).await.unwrap().bytes().await.unwrap().as_ref(), bytes.as_slice());
    stop(server).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
