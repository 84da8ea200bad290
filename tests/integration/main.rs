//! Integration tests: one binary, a module per behaviour.

mod batching;
mod bench_cli;
mod bookings;
mod check;
mod cli;
mod crash;
mod fleet;
mod live;
mod plot;
mod replay;
mod scenarios;
mod serve;
mod vault;

/// The workspace root, where `scenarios/` lives.
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
