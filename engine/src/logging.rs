//! Logging through `tracing`, with the Redis log levels (`debug`, `verbose`, `notice`, `warning`, `nothing`)
//! mapped onto tracing levels and changeable at runtime by `CONFIG SET loglevel`.

use std::sync::OnceLock;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

type Handle = reload::Handle<LevelFilter, tracing_subscriber::Registry>;

static HANDLE: OnceLock<Handle> = OnceLock::new();

/// The tracing level of a Redis log level name.
pub fn level_of(name: &str) -> LevelFilter {
    match name {
        "debug" => LevelFilter::DEBUG,
        "verbose" | "notice" => LevelFilter::INFO,
        "warning" => LevelFilter::WARN,
        "nothing" => LevelFilter::OFF,
        _ => LevelFilter::INFO,
    }
}

/// Installs the global subscriber (stderr) at the given level. Later calls only change the level.
pub fn init(level: &str) {
    let (filter, handle) = reload::Layer::new(level_of(level));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .try_init();
    if installed.is_ok() {
        let _ = HANDLE.set(handle);
    } else {
        apply_level(level);
    }
}

/// Changes the level of the installed subscriber.
pub fn apply_level(level: &str) {
    if let Some(h) = HANDLE.get() {
        let _ = h.modify(|f| *f = level_of(level));
    }
}
