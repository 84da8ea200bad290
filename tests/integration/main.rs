//! Integration tests: one binary, a module per behaviour.

mod check;
mod cli;
mod replay;
mod scenarios;

/// The workspace root, where `scenarios/` lives.
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
