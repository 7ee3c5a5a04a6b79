//! Configuration: compiled defaults, then an optional TOML file, then environment variables
//! `STOWAGE__SECTION__KEY` (e.g. `STOWAGE__DATABASE__URL`). Any key may also be given as
//! `STOWAGE__SECTION__KEY_FILE=/path`, whose file content (trimmed) becomes the value — for
//! secrets mounted as files. Every key is listed in docs/configuration.md.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::Path;
use stowage_postgres::PgConfig;
use stowage_s3::S3Config;

/// The HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// Address to listen on (`0.0.0.0:8080`; port 0 picks a free port).
    pub bind: String,
    /// HTTP worker threads; 0 means one per core.
    pub http_workers: usize,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Seconds a verified API key is cached (revocation takes effect within it).
    pub key_cache_ttl_secs: u64,
    /// Failed authentications (unknown or revoked keys) one client address may make per minute
    /// before it gets 429s; 0 turns the limit off (e.g. behind a proxy that hides client addresses).
    pub failed_auth_per_minute: u32,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "0.0.0.0:8080".to_owned(),
            http_workers: 0,
            shutdown_timeout_secs: 30,
            key_cache_ttl_secs: 30,
            failed_auth_per_minute: 30,
        }
    }
}

/// Service-wide upload rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadSettings {
    /// Seconds after `expires_at` during which a PENDING upload may still be confirmed.
    pub confirm_grace_secs: u64,
    /// Files declared above this size, in bytes, are uploaded in parts (S3 allows 5 GiB per PUT).
    pub max_single_put_bytes: u64,
    /// Preferred part size of multipart uploads, in bytes (at least 5 MiB on S3; grown for files
    /// of more than 10,000 parts).
    pub multipart_part_size_bytes: u64,
    /// Attempts of an asynchronous confirmation before the upload fails.
    pub confirm_task_max_attempts: u32,
    /// Attempts of a batch task.
    pub batch_task_max_attempts: u32,
}

impl Default for UploadSettings {
    fn default() -> Self {
        let policy = stowage_domain::policy::Policy::default();
        Self {
            confirm_grace_secs: policy.confirm_grace.as_secs(),
            max_single_put_bytes: policy.max_single_put_bytes,
            multipart_part_size_bytes: policy.multipart_part_size_bytes,
            confirm_task_max_attempts: policy.confirm_task_max_attempts,
            batch_task_max_attempts: policy.batch_task_max_attempts,
        }
    }
}

/// The task workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerSettings {
    /// Run workers inside `stowage serve`.
    pub enabled: bool,
    /// Confirms and batches run at once per process.
    pub concurrency: usize,
    /// Webhook deliveries run at once per process, in slots of their own (at least 1).
    pub webhook_concurrency: usize,
    /// Seconds a claimed task is leased; heartbeats renew it every third of that.
    pub lease_secs: u64,
    /// Milliseconds between polls of an empty queue.
    pub poll_interval_ms: u64,
    /// Delay of the first retry, in milliseconds (doubling each attempt).
    pub retry_base_delay_ms: u64,
    /// Longest delay between retries, in milliseconds.
    pub retry_max_delay_ms: u64,
    /// Seconds between runs of the expiry sweeper (PENDING uploads past `expires_at` + grace
    /// become FAILED `upload_expired` and their bytes are deleted); 0 disables it.
    pub sweep_interval_secs: u64,
    /// Seconds between runs of the orphan reconciler (objects under the upload prefix that no
    /// upload owns, older than the confirm grace); 0 disables it.
    pub reconcile_interval_secs: u64,
    /// Delete the orphans found; when false (the default) the reconciler only counts them.
    pub reconcile_delete: bool,
    /// Attempts to deliver a webhook event (retried with the backoff above) before its task ends
    /// FAILED.
    pub webhook_max_attempts: u32,
    /// Seconds a webhook receiver has to answer one attempt.
    pub webhook_timeout_secs: u64,
    /// Allow webhook URLs on loopback, private and link-local addresses (refused by default, at
    /// bucket creation and again at delivery after DNS resolution).
    pub webhook_allow_private_targets: bool,
    /// Seconds between passes of the finisher, which confirms PENDING uploads whose bytes landed
    /// but whose client never confirmed (checked with HeadObject); 0 disables it.
    pub finisher_interval_secs: u64,
    /// Seconds after its creation that an upload is first checked by the finisher (a client that
    /// confirms itself usually has by then).
    pub finisher_first_check_secs: u64,
    /// Longest delay between two checks of one upload (the delay doubles from the first).
    pub finisher_max_delay_secs: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 4,
            webhook_concurrency: 2,
            lease_secs: 60,
            poll_interval_ms: 500,
            retry_base_delay_ms: 2_000,
            retry_max_delay_ms: 300_000,
            sweep_interval_secs: 60,
            reconcile_interval_secs: 3600,
            reconcile_delete: false,
            webhook_max_attempts: stowage_domain::policy::Policy::default().webhook_max_attempts,
            webhook_timeout_secs: 10,
            webhook_allow_private_targets: false,
            finisher_interval_secs: 5,
            finisher_first_check_secs: 20,
            finisher_max_delay_secs: 300,
        }
    }
}

/// Browser uploads: upload sessions, the Companion-compatible S3 routes, CORS, S3 events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BrowserSettings {
    /// Seals upload sessions; every server of a deployment needs the same. By default a random
    /// secret kept in `<data_dir>/sessions.secret` (0600).
    pub session_secret: Option<String>,
    /// Origins (`https://app.example.com`, or `*`) whose pages may call the browser routes
    /// (`/u/...`) and the local-disk store's transfer route; none by default (same origin only).
    pub cors_allowed_origins: Vec<String>,
    /// The token S3 event notifications must present at `POST /v1/storage-events`; unset, the
    /// route is off.
    pub events_token: Option<String>,
}

/// The upload page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UiSettings {
    /// Serve the upload page at `/ui/`.
    pub enabled: bool,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    /// `pretty` for people, `json` for log pipelines.
    pub format: String,
    /// A tracing filter (`info`, `stowage=debug,info`); `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { format: "pretty".to_owned(), level: "info".to_owned() }
    }
}

/// Everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The HTTP server.
    pub server: ServerSettings,
    /// PostgreSQL.
    pub database: PgConfig,
    /// Where local state lives (the SQLite database, the local-disk store's objects and secret,
    /// the bootstrap admin key); `STOWAGE__DATA_DIR`.
    pub data_dir: std::path::PathBuf,
    /// Which database: `postgres` (`[database]`), or `sqlite` (`<data_dir>/stowage.db`).
    /// [`Settings::load`] picks `sqlite` unless `database.url` is configured or this key is set.
    pub database_backend: DatabaseBackend,
    /// Which object store: `s3`, or `disk` (objects under `data_dir`, uploaded through stowage's
    /// own signed route). [`Settings::load`] picks `disk` unless `storage.bucket` or
    /// `storage.endpoint` is configured or this key is set.
    pub storage_backend: StorageBackend,
    /// The S3-compatible store.
    pub storage: S3Config,
    /// The local-disk store.
    pub disk: DiskSettings,
    /// Upload rules.
    pub uploads: UploadSettings,
    /// Task workers.
    pub worker: WorkerSettings,
    /// Browser uploads.
    pub browser: BrowserSettings,
    /// The upload page.
    pub ui: UiSettings,
    /// Logging.
    pub log: LogSettings,
}

/// Which database keeps stowage's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseBackend {
    /// PostgreSQL (`[database]`).
    #[default]
    Postgres,
    /// One SQLite file under `data_dir`: the embedded default.
    Sqlite,
}

/// Which object store serves the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// An S3-compatible server (`[storage]`).
    #[default]
    S3,
    /// A directory under `data_dir`, with signed direct-upload URLs served by stowage.
    Disk,
}

/// The local-disk store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DiskSettings {
    /// The base URL clients reach this server at, put into upload and download URLs; by default
    /// `http://127.0.0.1:<port>` (or the bound host when it is not a wildcard).
    pub public_url: Option<String>,
    /// A separate origin for download URLs (e.g. `https://files.example.com`, routed to this
    /// server); downloads arriving under another host are refused. Default: `public_url`.
    pub download_url: Option<String>,
    /// Signs the URLs; by default a random secret kept in `<data_dir>/storage.secret` (0600).
    pub secret: Option<String>,
    /// The largest object one PUT may write (default: `uploads.max_single_put_bytes`).
    pub max_object_bytes: Option<u64>,
    /// Writes are refused (507) when they would leave less free space than this on the data
    /// directory's volume, which also holds the SQLite database (default 1 GiB).
    pub min_free_bytes: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            server: ServerSettings::default(),
            database: PgConfig::default(),
            data_dir: "stowage-data".into(),
            database_backend: DatabaseBackend::default(),
            storage_backend: StorageBackend::default(),
            storage: S3Config::default(),
            disk: DiskSettings::default(),
            uploads: UploadSettings::default(),
            worker: WorkerSettings::default(),
            browser: BrowserSettings::default(),
            ui: UiSettings::default(),
            log: LogSettings::default(),
        }
    }
}

const PREFIX: &str = "STOWAGE__";

/// `STOWAGE__A__B_FILE=/path` → (`a.b`, file content).
fn file_values(vars: impl Iterator<Item = (String, String)>) -> Result<Vec<(String, String)>, String> {
    let mut values = Vec::new();
    for (name, path) in vars {
        let Some(key) = name.strip_prefix(PREFIX).and_then(|k| k.strip_suffix("_FILE")) else { continue };
        let content = std::fs::read_to_string(&path).map_err(|e| format!("{name}: cannot read {path}: {e}"))?;
        values.push((key.to_ascii_lowercase().replace("__", "."), content.trim().to_owned()));
    }
    Ok(values)
}

/// The store to use given what was configured (`given`: file and environment, no defaults): the
/// configured `storage_backend` if any, else S3 when its bucket or endpoint is configured, else
/// the local disk.
fn storage_backend(given: &Figment, extracted: StorageBackend) -> StorageBackend {
    chosen(
        given,
        "storage_backend",
        extracted,
        &["storage.bucket", "storage.endpoint"],
        StorageBackend::S3,
        StorageBackend::Disk,
    )
}

/// The database to use given what was configured: the configured `database_backend` if any, else
/// PostgreSQL when `database.url` is configured, else SQLite.
fn database_backend(given: &Figment, extracted: DatabaseBackend) -> DatabaseBackend {
    chosen(given, "database_backend", extracted, &["database.url"], DatabaseBackend::Postgres, DatabaseBackend::Sqlite)
}

/// `extracted` when `key` itself is configured, else `external` when any of `external_keys` is,
/// else `embedded`.
fn chosen<T>(given: &Figment, key: &str, extracted: T, external_keys: &[&str], external: T, embedded: T) -> T {
    let configured = |key: &str| given.find_value(key).is_ok();
    if configured(key) {
        extracted
    } else if external_keys.iter().any(|k| configured(k)) {
        external
    } else {
        embedded
    }
}

impl Settings {
    /// True when nothing external is configured: SQLite and local disk under `data_dir`.
    #[must_use]
    pub fn is_embedded(&self) -> bool {
        self.database_backend == DatabaseBackend::Sqlite
    }

    /// The SQLite database file.
    #[must_use]
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self.data_dir.join("stowage.db")
    }

    /// Loads the configuration: defaults, then `file` if given, then the environment.
    ///
    /// # Errors
    /// A message naming the bad file, variable or key.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let mut figment = Self::defaults_and_file(file)?
            .merge(Env::prefixed(PREFIX).split("__").filter(|k| !k.as_str().ends_with("_file")));
        for (key, value) in file_values(std::env::vars())? {
            figment = figment.merge(Serialized::default(&key, value));
        }
        let mut settings: Self = figment.extract().map_err(|e| format!("invalid configuration: {e}"))?;
        let given = Self::given(file, std::env::vars().collect())?;
        settings.storage_backend = storage_backend(&given, settings.storage_backend);
        settings.database_backend = database_backend(&given, settings.database_backend);
        Ok(settings)
    }

    /// What the file and the environment (`vars`) say, without the compiled defaults — `_FILE`
    /// variables included — for telling configured keys from defaults.
    fn given(file: Option<&Path>, vars: Vec<(String, String)>) -> Result<Figment, String> {
        let mut given = Self::file_only(file)?;
        for (name, value) in vars.iter().cloned() {
            if let Some(key) = name.strip_prefix(PREFIX).filter(|k| !k.ends_with("_FILE")) {
                given = given.merge(Serialized::default(&key.to_ascii_lowercase().replace("__", "."), value));
            }
        }
        for (key, value) in file_values(vars.into_iter())? {
            given = given.merge(Serialized::default(&key, value));
        }
        Ok(given)
    }

    /// The TOML file alone (for telling configured keys from defaults).
    fn file_only(file: Option<&Path>) -> Result<Figment, String> {
        match file {
            Some(file) if !file.exists() => Err(format!("configuration file {} does not exist", file.display())),
            Some(file) => Ok(Figment::new().merge(Toml::file(file))),
            None => Ok(Figment::new()),
        }
    }

    /// Compiled defaults with the TOML file on top (no environment).
    fn defaults_and_file(file: Option<&Path>) -> Result<Figment, String> {
        Ok(Figment::from(Serialized::defaults(Self::default())).merge(Self::file_only(file)?))
    }

    /// The domain's rules from these settings.
    #[must_use]
    pub fn policy(&self) -> stowage_domain::policy::Policy {
        stowage_domain::policy::Policy {
            confirm_grace: std::time::Duration::from_secs(self.uploads.confirm_grace_secs),
            max_single_put_bytes: self.uploads.max_single_put_bytes,
            multipart_part_size_bytes: self.uploads.multipart_part_size_bytes,
            confirm_task_max_attempts: self.uploads.confirm_task_max_attempts,
            batch_task_max_attempts: self.uploads.batch_task_max_attempts,
            webhook_max_attempts: self.worker.webhook_max_attempts,
            webhook_allow_private_targets: self.worker.webhook_allow_private_targets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_variables_name_nested_keys() {
        let dir = std::env::temp_dir().join(format!("stowage-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "s3cr3t\n").unwrap();
        let vars = vec![
            ("STOWAGE__STORAGE__SECRET_ACCESS_KEY_FILE".to_owned(), secret.display().to_string()),
            ("STOWAGE__DATABASE__URL".to_owned(), "ignored".to_owned()),
            ("OTHER_FILE".to_owned(), "/nope".to_owned()),
        ];
        assert_eq!(
            file_values(vars.into_iter()).unwrap(),
            [("storage.secret_access_key".to_owned(), "s3cr3t".to_owned())]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unreadable_secret_file_is_an_error_naming_the_variable() {
        let vars = vec![("STOWAGE__DATABASE__URL_FILE".to_owned(), "/does/not/exist".to_owned())];
        assert!(file_values(vars.into_iter()).unwrap_err().contains("STOWAGE__DATABASE__URL_FILE"));
    }

    #[test]
    fn a_toml_file_overrides_defaults_and_keeps_the_rest() {
        let dir = std::env::temp_dir().join(format!("stowage-toml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("stowage.toml");
        std::fs::write(
            &file,
            "[server]\nbind = \"127.0.0.1:9999\"\n[storage]\nbucket = \"uploads\"\nforce_path_style = true\n",
        )
        .unwrap();
        let settings: Settings = Settings::defaults_and_file(Some(&file)).unwrap().extract().unwrap();
        assert_eq!(settings.server.bind, "127.0.0.1:9999");
        assert_eq!(settings.storage.bucket, "uploads");
        assert!(settings.storage.force_path_style);
        assert_eq!(settings.worker, WorkerSettings::default());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn objects_go_to_local_disk_unless_s3_or_a_backend_is_configured() {
        let given = |toml: &str| Figment::new().merge(Toml::string(toml));
        assert_eq!(storage_backend(&given(""), StorageBackend::S3), StorageBackend::Disk);
        assert_eq!(storage_backend(&given("[server]\nbind = \"x\""), StorageBackend::S3), StorageBackend::Disk);
        assert_eq!(storage_backend(&given("[storage]\nbucket = \"b\""), StorageBackend::Disk), StorageBackend::S3);
        assert_eq!(
            storage_backend(&given("[storage]\nendpoint = \"http://s3\""), StorageBackend::Disk),
            StorageBackend::S3
        );
        let explicit = given("storage_backend = \"disk\"\n[storage]\nbucket = \"b\"");
        assert_eq!(storage_backend(&explicit, StorageBackend::Disk), StorageBackend::Disk);
    }

    #[test]
    fn a_database_url_given_as_a_file_or_variable_selects_postgres() {
        let dir = std::env::temp_dir().join(format!("stowage-given-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("url");
        std::fs::write(&secret, "postgres://db/stowage\n").unwrap();
        let from_file = vec![("STOWAGE__DATABASE__URL_FILE".to_owned(), secret.display().to_string())];
        let given = Settings::given(None, from_file).unwrap();
        assert_eq!(database_backend(&given, DatabaseBackend::Sqlite), DatabaseBackend::Postgres);
        let from_var = vec![("STOWAGE__STORAGE__BUCKET".to_owned(), "b".to_owned())];
        let given = Settings::given(None, from_var).unwrap();
        assert_eq!(storage_backend(&given, StorageBackend::Disk), StorageBackend::S3);
        assert_eq!(database_backend(&given, DatabaseBackend::Postgres), DatabaseBackend::Sqlite);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn state_goes_to_sqlite_unless_a_database_url_or_a_backend_is_configured() {
        let given = |toml: &str| Figment::new().merge(Toml::string(toml));
        assert_eq!(database_backend(&given(""), DatabaseBackend::Postgres), DatabaseBackend::Sqlite);
        let pg = given("[database]\nurl = \"postgres://db/stowage\"");
        assert_eq!(database_backend(&pg, DatabaseBackend::Sqlite), DatabaseBackend::Postgres);
        let explicit = given("database_backend = \"sqlite\"\n[database]\nurl = \"postgres://db\"");
        assert_eq!(database_backend(&explicit, DatabaseBackend::Sqlite), DatabaseBackend::Sqlite);
    }

    #[test]
    fn a_missing_file_is_an_error() {
        assert!(Settings::load(Some(Path::new("/no/such/stowage.toml"))).unwrap_err().contains("does not exist"));
    }
}
