//! `qm-bench`: the comparison harness behind `qm bench`.
//!
//! `cargo run --release -p quartermaster-bench --bin qm-bench -- [--quick] [--out DIR]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use quartermaster_bench::harness::{self, Plan};

/// Benchmark the simulator and the live engine against a bare heap loop, SimPy and
/// governor, and write `report.md`, `report.json` and `scaling.svg`.
#[derive(Debug, Parser)]
#[command(name = "qm-bench", version, about)]
struct Cli {
    /// Fewer customers and runs: under two minutes.
    #[arg(long)]
    quick: bool,
    /// Where the report goes.
    #[arg(long, default_value = "bench-report")]
    out: PathBuf,
    /// The workspace, for `scenarios/mmc.ron` and `bench/simpy/` (default: where this
    /// binary was built from).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Internal (`harness::CHILD_FLAG`): replay this many requests queued at once and print
    /// the peak resident memory, so each measurement has a process of its own.
    #[arg(long, hide = true)]
    peak_rss_child: Option<u64>,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Some(requests) = cli.peak_rss_child {
        return match harness::replay_and_read_peak(requests) {
            Ok((bytes, queued)) => {
                println!("{bytes} {queued}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        };
    }
    let root = cli
        .root
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."));
    let scratch = std::env::temp_dir().join(format!("qm-bench-{}", std::process::id()));
    let result = harness::measure(Plan::new(cli.quick), &root, &scratch)
        .and_then(|report| harness::write_report(&report, &cli.out).map(|()| report));
    // The live engine's databases are scratch: nothing in them is reported.
    let _ = std::fs::remove_dir_all(&scratch);
    match result {
        Ok(report) => {
            print!("{}", harness::markdown(&report));
            println!("report written to {}", cli.out.join("report.md").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
