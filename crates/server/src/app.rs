//! Wiring: the adapters chosen by configuration, plugged into the domain, served over HTTP, with
//! the task workers alongside. `Application::build` binds the listener (port 0 in tests) so the
//! port is known before serving; `run_until_stopped` serves until SIGTERM/SIGINT, then stops
//! accepting, lets in-flight requests finish, stops the workers and gives back their leases.

use crate::config::Settings;
use crate::config::{DatabaseBackend, StorageBackend};
use crate::metered::Metered;
use crate::worker::Workers;
use actix_web::{App, HttpServer, web};
use rand::RngCore;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use stowage_disk::DiskStore;
use stowage_domain::ids::IdSuffix;
use stowage_domain::ports::{Clock, IdGenerator, ObjectStore};
use stowage_domain::usecases::Ports;
use stowage_http_actix::AppState;
use stowage_postgres::{PgRepository, migrate};
use stowage_s3::S3ObjectStore;
use stowage_sqlite::SqliteRepository;
use time::OffsetDateTime;

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        // PostgreSQL keeps microseconds: round here so a value read back equals the one written.
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
    }
}

/// 128 random bits per id, from the thread-local CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn suffix(&self) -> IdSuffix {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        IdSuffix::from_bytes(bytes)
    }
}

/// The composition root: the adapters configuration picks, as the domain's ports — for `serve`,
/// `worker` and every CLI command alike. Runs the migrations first. The database and store
/// calls a request's latency is made of are timed (`stowage_database_seconds`,
/// `stowage_storage_seconds`).
///
/// # Errors
/// A message when the database cannot be reached or migrated, or the store cannot be set up.
pub async fn ports(settings: &Settings) -> Result<Ports, String> {
    let (store, _) = object_store(settings).await?;
    ports_with(settings, store).await
}

/// [`ports`] on `store`.
async fn ports_with(settings: &Settings, store: Arc<dyn ObjectStore>) -> Result<Ports, String> {
    let store: Arc<dyn ObjectStore> = Arc::new(Metered(store));
    let (clock, ids, policy): (Arc<dyn Clock>, Arc<dyn IdGenerator>, _) =
        (Arc::new(SystemClock), Arc::new(RandomIds), settings.policy());
    let mut ports = match settings.database_backend {
        DatabaseBackend::Postgres => {
            let repo = PgRepository::new(settings.database.clone()).map_err(|e| e.to_string())?;
            let applied = migrate(&repo).await.map_err(|e| format!("cannot migrate the database: {e}"))?;
            if applied > 0 {
                tracing::info!(applied, "database migrated");
            }
            Ports::new(Arc::new(repo), store, clock, ids, policy)
        }
        DatabaseBackend::Sqlite => {
            let path = settings.sqlite_path();
            std::fs::create_dir_all(&settings.data_dir)
                .map_err(|e| format!("cannot create {}: {e}", settings.data_dir.display()))?;
            let repo = SqliteRepository::open(&path.display().to_string())
                .await
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            Ports::new(Arc::new(repo), store, clock, ids, policy)
        }
    };
    ports.tenancy = Arc::new(Metered(ports.tenancy));
    ports.uploads = Arc::new(Metered(ports.uploads));
    ports.objects = Arc::new(Metered(ports.objects));
    Ok(ports)
}

/// The HTTP layer's state over `ports`: API keys cached, failed authentications throttled, the
/// browser routes configured.
///
/// # Errors
/// When the upload sessions' secret cannot be read or created.
pub fn http_state(settings: &Settings, ports: Ports) -> Result<AppState, String> {
    let session_secret = match &settings.browser.session_secret {
        Some(secret) if secret.len() >= stowage_disk::MIN_SECRET_BYTES => secret.clone().into_bytes(),
        Some(_) => {
            return Err(format!("browser.session_secret needs at least {} bytes", stowage_disk::MIN_SECRET_BYTES));
        }
        // Without a writable data directory (a read-only container), sessions are sealed with a
        // secret of this process: they work, but not across restarts or replicas.
        None => local_secret(&settings.data_dir, "sessions.secret").unwrap_or_else(|e| {
            tracing::warn!(error = %e, "upload sessions use a per-process secret; set browser.session_secret");
            stowage_http_actix::browser::BrowserConfig::default().session_secret
        }),
    };
    let browser = stowage_http_actix::browser::BrowserConfig {
        session_secret,
        public_url: settings.disk.public_url.clone().unwrap_or_else(|| public_url(&settings.server.bind, None)),
        cors_allowed_origins: settings.browser.cors_allowed_origins.clone(),
        events_token: settings.browser.events_token.clone().filter(|t| !t.is_empty()),
    };
    Ok(AppState::new(
        ports,
        Duration::from_secs(settings.server.key_cache_ttl_secs),
        settings.server.failed_auth_per_minute,
    )
    .with_browser(browser))
}

/// The configured object store, and the local-disk store again when that is the one (its route
/// must be mounted).
///
/// # Errors
/// When the local-disk store's directory or secret cannot be set up.
pub async fn object_store(settings: &Settings) -> Result<(Arc<dyn ObjectStore>, Option<Arc<DiskStore>>), String> {
    match settings.storage_backend {
        StorageBackend::S3 => Ok((Arc::new(S3ObjectStore::new(settings.storage.clone()).await), None)),
        StorageBackend::Disk => {
            let secret = match &settings.disk.secret {
                Some(secret) => secret.clone().into_bytes(),
                None => local_secret(&settings.data_dir, "storage.secret")?,
            };
            let public_url =
                settings.disk.public_url.clone().unwrap_or_else(|| public_url(&settings.server.bind, None));
            let defaults = stowage_disk::Limits::default();
            let limits = stowage_disk::Limits {
                max_object_bytes: settings.disk.max_object_bytes.unwrap_or(settings.uploads.max_single_put_bytes),
                max_part_bytes: defaults.max_part_bytes,
                min_free_bytes: settings.disk.min_free_bytes.unwrap_or(defaults.min_free_bytes),
            };
            let disk = DiskStore::new(settings.data_dir.join("objects"), &public_url, &secret)
                .map_err(|e| format!("cannot use {}: {e}", settings.data_dir.display()))?
                .with_limits(limits)
                .with_download_url(settings.disk.download_url.as_deref());
            let disk = Arc::new(disk);
            Ok((disk.clone(), Some(disk)))
        }
    }
}

/// `http://<host>:<port>` for a bind address; a wildcard host becomes 127.0.0.1.
fn public_url(bind: &str, port: Option<u16>) -> String {
    let (host, bound_port) = bind.rsplit_once(':').unwrap_or((bind, "8080"));
    let host = if matches!(host, "0.0.0.0" | "[::]" | "::" | "") { "127.0.0.1" } else { host };
    format!("http://{host}:{}", port.map_or_else(|| bound_port.to_owned(), |p| p.to_string()))
}

/// A signing secret kept in `<data_dir>/<name>` (the local-disk store's `storage.secret`, the
/// upload sessions' `sessions.secret`): read, or created (0600, 256 random bits) on first use so
/// what it signed stays valid across restarts.
fn local_secret(data_dir: &std::path::Path, name: &str) -> Result<Vec<u8>, String> {
    let path = data_dir.join(name);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        let secret = secret.trim();
        if secret.len() < stowage_disk::MIN_SECRET_BYTES {
            return Err(format!(
                "{} holds a secret of {} bytes (at least {} are needed); if it is empty or truncated, \
                 delete it to generate a new one (URLs signed with the old one stop working)",
                path.display(),
                secret.len(),
                stowage_disk::MIN_SECRET_BYTES
            ));
        }
        return Ok(secret.as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, &secret)?;
    Ok(secret.into_bytes())
}

/// Writes a file only its owner may read (0600 on Unix), refusing to overwrite one. Atomic: the
/// content goes to a temporary file, is synced, then linked into place, so a crash never leaves a
/// partial (or empty) file behind.
///
/// # Errors
/// A message naming the file when it exists already or cannot be written.
pub fn write_private(path: &std::path::Path, content: &str) -> Result<(), String> {
    use std::io::Write;
    let failed = |e: std::io::Error| format!("cannot create {}: {e}", path.display());
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(content.as_bytes())?;
        file.sync_all()
    });
    // A hard link, unlike a rename, fails when the target exists: nothing is overwritten.
    let result = written.and_then(|()| std::fs::hard_link(&tmp, path)).map_err(failed);
    let _ = std::fs::remove_file(&tmp);
    result
}

/// The process-wide Prometheus recorder (installed once; later calls share it).
fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _already_installed = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// `GET /metrics`: Prometheus text format, plus the queue's depth and lag read at scrape time.
async fn render_metrics(
    handle: web::Data<metrics_exporter_prometheus::PrometheusHandle>,
    state: web::Data<AppState>,
) -> actix_web::HttpResponse {
    if let Ok(stats) = state.ports.queue.stats().await {
        metrics::gauge!("stowage_queue_depth").set(stats.due as f64);
        metrics::gauge!("stowage_queue_in_progress").set(stats.in_progress as f64);
        metrics::gauge!("stowage_queue_lag_seconds").set(stats.oldest_due_age.as_secs_f64());
    }
    actix_web::HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(handle.render())
}

/// A built, not yet running, stowage.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    workers: Option<Workers>,
    ports: Ports,
    public_url: String,
}

impl Application {
    /// Migrates, wires and binds.
    ///
    /// # Errors
    /// A message when the database is unreachable or the address cannot be bound.
    pub async fn build(mut settings: Settings) -> Result<Self, String> {
        let listener = TcpListener::bind(&settings.server.bind)
            .map_err(|e| format!("cannot listen on {}: {e}", settings.server.bind))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        // The bound port completes the default public URL (port 0 in tests).
        let bind = settings.server.bind.clone();
        let public_url = settings.disk.public_url.get_or_insert_with(|| public_url(&bind, Some(port))).clone();
        let (store, disk) = object_store(&settings).await?;
        let ports = ports_with(&settings, store).await?;
        let cors = settings.browser.cors_allowed_origins.clone();
        let storage_route = disk.map(|disk| crate::storage_route::StorageRoute {
            disk,
            uploads: ports.uploads.clone(),
            cors_allowed_origins: cors,
        });
        let state = http_state(&settings, ports.clone())?;
        let browser_routes = stowage_http_actix::browser::configure(&state.browser);
        let data = web::Data::new(state);
        let ui = settings.ui.enabled;
        let metrics = web::Data::new(prometheus());
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(stowage_http_actix::error::method_guard))
                .wrap(actix_web::middleware::from_fn(stowage_http_actix::request_id_middleware))
                .app_data(data.clone())
                .app_data(metrics.clone())
                .configure(stowage_http_actix::configure)
                .configure(browser_routes.clone())
                .configure(|cfg| {
                    if ui {
                        crate::ui::configure(cfg);
                    }
                })
                .configure(|cfg| {
                    if let Some(route) = &storage_route {
                        crate::storage_route::configure(route.clone())(cfg);
                    }
                })
                .route("/metrics", web::get().to(render_metrics))
                .default_service(web::to(stowage_http_actix::error::not_found))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .listen(listener)
        .map_err(|e| e.to_string())?;
        if settings.server.http_workers > 0 {
            server = server.workers(settings.server.http_workers);
        }
        let workers = settings.worker.enabled.then(|| Workers::start(ports.clone(), &settings.worker));
        tracing::info!(port, workers = settings.worker.enabled, "stowage listening");
        Ok(Self { port, server: server.run(), workers, ports, public_url })
    }

    /// The port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The base URL clients reach it at (as put into local-disk transfer URLs).
    #[must_use]
    pub fn public_url(&self) -> String {
        self.public_url.clone()
    }

    /// The application's ports (tests use them to act behind the API's back).
    #[must_use]
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// A handle to stop the HTTP server gracefully.
    #[must_use]
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM, SIGINT or the handle), then stops the workers.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(workers) = self.workers {
            workers.shutdown().await;
        }
        served
    }
}
