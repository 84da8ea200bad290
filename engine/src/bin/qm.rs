//! `qm`: the Quartermaster command line.

use clap::Parser;

/// Quartermaster: scheduling and resource management for fleets of AI agents.
#[derive(Debug, Parser)]
#[command(name = "qm", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
