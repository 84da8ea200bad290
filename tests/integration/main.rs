//! Integration tests: one binary, a module per behaviour. The modules that run the `qm`
//! binary need its features (the defaults); `plot` needs the `plot` feature.

mod alerts;
mod batching;
#[cfg(all(feature = "cli", feature = "server", feature = "plot"))]
mod bench_cli;
mod bookings;
mod check;
#[cfg(all(feature = "cli", feature = "server", feature = "plot"))]
mod cli;
mod crash;
mod fleet;
mod lease;
mod live;
#[cfg(feature = "plot")]
mod plot;
mod replay;
mod scenarios;
#[cfg(all(feature = "cli", feature = "server", feature = "plot"))]
mod serve;
mod snapshot;
mod trace;
#[cfg(all(feature = "cli", feature = "server", feature = "plot"))]
mod vault;

/// The workspace root, where `scenarios/` lives.
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
