//! Logging through tracing: pretty for people, JSON for pipelines; `RUST_LOG` overrides the
//! configured level.

use crate::config::LogSettings;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (once; later calls are no-ops, which tests rely on).
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _already_set = if settings.format == "json" { builder.json().try_init() } else { builder.try_init() };
}
