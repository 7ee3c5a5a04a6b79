//! stowage-s3 against a real S3-compatible server. `cargo xtask test` starts Garage and passes
//! it through `STOWAGE_TEST_S3_ENDPOINT`, `STOWAGE_TEST_S3_ACCESS_KEY`,
//! `STOWAGE_TEST_S3_SECRET_KEY` and `STOWAGE_TEST_S3_REGION`; every test gets its own bucket.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any unexpected error")]

mod behaviour;
mod helpers;
mod large;
mod multipart;
mod outage;
mod presign;
