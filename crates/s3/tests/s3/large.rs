//! Hashing a 1 GiB object: the digest equals `sha256sum` of the same bytes, and the process's
//! peak memory while hashing stays under 64 MiB (read from the kernel, not timed).

use crate::helpers::*;
use std::io::Write;
use stowage_domain::ports::ObjectStore;

const GIB: u64 = 1024 * 1024 * 1024;
const PEAK_LIMIT_KIB: u64 = 64 * 1024;

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets VmHWM to the current resident set (Linux: write 5 to clear_refs).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_one_gib_matches_sha256sum_in_bounded_memory() {
    let store = store().await;
    let dir = std::env::temp_dir().join(format!("stowage-gib-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("one.gib");
    {
        // A deterministic, incompressible-looking pattern written 1 MiB at a time.
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut block = vec![0u8; 1024 * 1024];
        for _ in 0..1024 {
            for b in &mut block {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            file.write_all(&block).unwrap();
        }
        file.flush().unwrap();
    }
    let sha256sum = std::process::Command::new("sha256sum").arg(&path).output().unwrap();
    let expected = String::from_utf8(sha256sum.stdout).unwrap().split_whitespace().next().unwrap().to_owned();

    let k = key("one.gib");
    let client = aws_sdk_s3_client(&store);
    client
        .put_object()
        .bucket(&store.config().bucket)
        .key(format!("{}{}", store.config().key_prefix, k))
        .body(aws_sdk_s3::primitives::ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect("upload 1 GiB");
    std::fs::remove_dir_all(&dir).unwrap();

    reset_peak_rss();
    let digest = store.hash(&k).await.unwrap();
    let peak = peak_rss_kib();
    assert_eq!(digest.bytes, GIB);
    assert_eq!(digest.sha256.as_str(), expected);
    assert!(peak < PEAK_LIMIT_KIB, "peak RSS while hashing was {peak} KiB");
    store.delete(&k).await.unwrap();
}

/// A raw SDK client on the test server, to upload from a file as an operator's tool would.
fn aws_sdk_s3_client(store: &stowage_s3::S3ObjectStore) -> aws_sdk_s3::Client {
    let c = store.config();
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(c.region.clone()))
        .endpoint_url(c.endpoint.clone().unwrap())
        .force_path_style(true)
        .credentials_provider(aws_credential_types::Credentials::new(
            c.access_key_id.clone().unwrap(),
            c.secret_access_key.clone().unwrap(),
            None,
            None,
            "test",
        ))
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
