//! UploadRepo, BatchService and TaskQueue over PostgreSQL with diesel and diesel-async.
