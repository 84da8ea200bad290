//! Shared helpers for the benches; the benches themselves live in `benches/`.
