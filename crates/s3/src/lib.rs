//! ObjectStore over aws-sdk-s3: AWS S3, MinIO, R2, Garage and any S3-compatible store.
