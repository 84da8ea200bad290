//! `qm`: the Quartermaster command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use quartermaster::sim::{self, RunOptions};

/// Quartermaster: scheduling and resource management for fleets of AI agents.
#[derive(Debug, Parser)]
#[command(name = "qm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a workload scenario on a virtual clock and report what happened.
    Run {
        /// The scenario file (RON).
        scenario: PathBuf,
        /// Seed of the run's random draws (overrides the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Write the whole report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the time series (utilisation, queue depth, spend) as CSV into this folder.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Draw the time series (utilisation, queue depth, spend) as an SVG to this file.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Validate a scenario and report every problem with its line and column.
    Check {
        /// The scenario file (RON).
        scenario: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Check { scenario } => match sim::load_file(&scenario) {
            Ok(s) => {
                println!(
                    "{}: ok ({} pools, {} clients, {} workloads)",
                    scenario.display(),
                    s.pools.len(),
                    s.clients.len(),
                    s.workloads.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Run {
            scenario,
            seed,
            json,
            csv,
            plot,
        } => {
            let loaded = match sim::load_file(&scenario) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let options = RunOptions {
                seed,
                progress: true,
            };
            let report = match sim::run(&loaded, &options) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            print!("{}", report.render());
            if let Some(path) = json
                && let Err(e) = std::fs::write(&path, report.to_json())
            {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
            if let Some(dir) = csv
                && let Err(e) = report.write_csv(&dir)
            {
                eprintln!("error: cannot write CSV into {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            if let Some(path) = plot
                && let Err(e) = sim::write_svg(&report, &path)
            {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}
