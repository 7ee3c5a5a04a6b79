//! stowage's `ObjectStore` on any S3-compatible server (AWS S3, MinIO, Cloudflare R2, Garage,
//! Ceph) through aws-sdk-s3.
//!
//! Presigned PUTs bind the content type, the length when declared and the SHA-256 when the client
//! opts in, so the store itself rejects wrong bytes; HeadObject runs with checksum mode on so a
//! store-verified SHA-256 makes streaming the object unnecessary; hashing streams the object in
//! the SDK's chunks through SHA-256 and MD5 at once, never buffering it. No SDK type crosses the
//! port: outages become `StorageError::Unavailable`, access or bucket problems `Misconfigured`.

mod config;
mod error;
mod hash;
mod post;
mod presign;
mod store;

pub use config::S3Config;
pub use store::S3ObjectStore;
