//! The process-wide relayer, installed once at startup.

use std::sync::OnceLock;

use crate::Relayer;

static INSTALLED: OnceLock<Relayer> = OnceLock::new();

/// Installs `relayer` for the whole process, like
/// `tracing::subscriber::set_global_default`: `#[relayed]` functions use it
/// unless told otherwise, and [`Relayer::current`] falls back to it outside
/// any request. Only the first call installs; later calls give their relayer
/// back as `Err`.
///
/// ```
/// let relayer = relayer::Relayer::builder("logging").brokers("localhost:9092").build()?;
/// relayer::install(relayer).expect("installed once, at startup");
/// assert!(relayer::Relayer::current().is_some());
/// # Ok::<(), relayer::Error>(())
/// ```
pub fn install(relayer: Relayer) -> Result<(), Relayer> {
    INSTALLED.set(relayer)
}

/// The relayer [`install`]ed for the process, if any.
pub fn installed() -> Option<&'static Relayer> {
    INSTALLED.get()
}
