//! `stowage upload`, `stowage buckets create`, `stowage uploads get`: the real binary against the
//! real app.

use crate::helpers::*;
use serde_json::{Value, json};
use tokio::process::Command;

const MIB: usize = 1024 * 1024;

/// Runs the `stowage` binary with the app's URL and key; returns (success, stdout, stderr).
async fn stowage(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stowage"))
        .args(args)
        .env("STOWAGE_URL", &app.address)
        .env("STOWAGE_API_KEY", &app.key)
        .env_remove("STOWAGE__DATA_DIR")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn object_id(line: &str) -> &str {
    line.split_whitespace().find(|w| w.starts_with("obj_")).unwrap_or_else(|| panic!("no object id in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mib_file_goes_up_in_parallel_parts_and_its_duplicate_is_not_transferred_again() {
    let app = spawn_with(|s| {
        s.uploads.max_single_put_bytes = 16 * MIB as u64;
        s.uploads.multipart_part_size_bytes = 5 * MIB as u64;
    })
    .await;
    let (ok, out, err) = stowage(&app, &["buckets", "create", "photos"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("bkt_") && out.contains("photos"), "{out}");

    let dir = tempdir();
    let file = dir.join("big.bin");
    let bytes: Vec<u8> = (0..50 * MIB).map(|i| u8::try_from((i * 7 + i / 4093) % 253).unwrap()).collect();
    std::fs::write(&file, &bytes).unwrap();
    let (ok, out, err) = stowage(&app, &["upload", file.to_str().unwrap(), "--bucket", "photos"]).await;
    assert!(ok, "{out}{err}");
    let object = object_id(&out).to_owned();
    assert!(out.contains(&sha256_hex(&bytes)), "{out}");
    let upload_id = out.split_whitespace().find(|w| w.starts_with("upl_")).unwrap().trim_end_matches(',').to_owned();

    let (ok, shown, err) = stowage(&app, &["uploads", "get", &upload_id]).await;
    assert!(ok, "{shown}{err}");
    let upload: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!((upload["status"].as_str(), upload["object_id"].as_str()), (Some("COMPLETED"), Some(object.as_str())));
    assert_eq!(upload["multipart"]["part_count"], 10, "50 MiB in 5 MiB parts: {upload}");
    assert!(upload["etag"].as_str().unwrap().ends_with("-10"));
    assert_eq!(upload["file_hash"], sha256_hex(&bytes));

    // The same content again, under another name: no second transfer, the same object.
    let copy = dir.join("copy.bin");
    std::fs::copy(&file, &copy).unwrap();
    let (ok, again, err) = stowage(&app, &["upload", copy.to_str().unwrap(), "--bucket", "photos"]).await;
    assert!(ok, "{again}{err}");
    assert!(again.contains("nothing transferred"), "{again}");
    assert_eq!(object_id(&again), object);
    let (_, listed) = app.post("/v1/buckets/photos/uploads/list", &json!({})).await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 1, "no second upload was created: {listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_go_up_in_one_put_each_and_failures_exit_non_zero_with_a_reason() {
    let app = spawn_app().await;
    app.bucket("docs", json!({})).await;
    let dir = tempdir();
    let (a, b) = (dir.join("a.txt"), dir.join("b.pdf"));
    std::fs::write(&a, b"first small file").unwrap();
    std::fs::write(&b, b"%PDF-1.7\nsecond small file").unwrap();
    let (ok, out, err) = stowage(&app, &["upload", a.to_str().unwrap(), b.to_str().unwrap(), "--bucket", "docs"]).await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let second: Value =
        app.get(&format!("/v1/buckets/docs/objects/{}", object_id(out.lines().nth(1).unwrap()))).await.1;
    assert_eq!(second["blobs"][0]["details"]["mime_type"], "application/pdf", "the content type is sniffed: {second}");

    let (ok, out, err) = stowage(&app, &["upload", a.to_str().unwrap(), "--bucket", "nope"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("bucket_not_found") && err.contains("stowage buckets create"), "{err}");

    let (ok, _, err) = stowage(&app, &["upload", dir.join("missing.bin").to_str().unwrap(), "--bucket", "docs"]).await;
    assert!(!ok);
    assert!(err.contains("missing.bin") && err.contains("No such file"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_server_down_upload_exits_non_zero_and_says_so() {
    let dir = tempdir();
    let file = dir.join("f.bin");
    std::fs::write(&file, b"bytes").unwrap();
    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_stowage"))
        .args(["upload", file.to_str().unwrap(), "--bucket", "b", "--url", &format!("http://127.0.0.1:{port}")])
        .env("STOWAGE_API_KEY", "sk_whatever")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach") && err.contains("is `stowage serve` running"), "{err}");
}

/// A fresh directory under the target dir's tmp (removed with it).
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("stowage-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
