//! Simulation: scenario files, workload generators, the discrete-event runner and its
//! report.

mod actions;
mod agenda;
pub mod arrival;
mod bookings;
pub mod distribution;
mod error;
pub mod estimate;
mod load;
mod locate;
#[cfg(feature = "plot")]
mod plot;
pub mod replay;
pub mod report;
mod runner;
pub mod scenario;
pub mod trace;
mod workload;

pub use estimate::{RunEstimate, RunLimits};
pub use load::{ScenarioError, ScenarioProblem, load_file, parse};
#[cfg(feature = "plot")]
pub use plot::{PlotError, write_svg};
pub use replay::{Changes, Comparison, ReplayError, replay};
pub use report::{AlertReport, Report};
pub use runner::{RunError, RunOptions, run};
pub use scenario::Scenario;
