//! `qm run --plot`: the time series drawn as an SVG, and a clear error when it cannot be
//! written.

use std::path::PathBuf;
use std::process::Command;

use quartermaster::sim::{self, PlotError, RunOptions};

/// Two pools, one of them autoscaling so forecasts are drawn; sampled often enough for
/// lines of many points, but few enough that none are summarised.
const SCENARIO: &str = r#"(
    name: "plot-check",
    start: "2026-01-05T00:00:00Z",
    duration_secs: 120,
    monitor: (sample_every_secs: 2),
    pools: [
        (id: "llm", kind: rate(capacity: 5000, refill_per_sec: 400, cost_per_1k_units: 0.03)),
        (id: "gpus", kind: slot(slots: 2, cost_per_hour: 1), autoscale: (min: 1, max: 4)),
    ],
    clients: [(id: "bot", tier: basic)],
    workloads: [(
        client: "bot",
        arrivals: poisson(rate_per_sec: 1),
        kinds: [
            (name: "chat", class: normal, needs: [(pool: "llm", amount: constant(300))], service_secs: constant(1)),
            (name: "job", class: batch, needs: [(pool: "gpus", amount: constant(1))], service_secs: exponential(mean: 3)),
        ],
    )],
)"#;

/// A fresh folder for one test, removed when it passes.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("qm-plot-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A path below a regular file: no one, not even root, can write there.
    fn unwritable(&self) -> PathBuf {
        let file = self.0.join("a-file");
        std::fs::write(&file, "").unwrap();
        file.join("plot.svg")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn report() -> sim::Report {
    let scenario = sim::parse(SCENARIO, "plot-check.ron").expect("the test scenario is valid");
    let options = RunOptions {
        seed: Some(3),
        progress: false,
    };
    sim::run(&scenario, &options).unwrap()
}

/// The stroke colour and the number of points of each `<polyline>`.
fn polylines(svg: &str) -> Vec<(&str, usize)> {
    svg.split("<polyline")
        .skip(1)
        .map(|element| {
            let points = attribute(element, "points").split_whitespace().count();
            (attribute(element, "stroke"), points)
        })
        .collect()
}

fn attribute<'a>(element: &'a str, name: &str) -> &'a str {
    let value = element
        .split(&format!(" {name}=\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in {element}"));
    &value[..value.find('"').unwrap()]
}

#[test]
fn the_svg_draws_every_series_and_names_the_run() {
    let scratch = Scratch::new("series");
    let report = report();
    assert!(report.series.len() > 20, "{} samples", report.series.len());
    let path = scratch.0.join("run.svg");
    sim::write_svg(&report, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for text in [
        "plot-check (seed 3)",
        "llm",
        "gpus",
        "forecast",
        "queued",
        "running",
        "cumulative spend",
        "utilisation (%)",
        "size (% of first)",
        "llm (size 5000)",
        "time from start (seconds)",
    ] {
        assert!(svg.contains(text), "no {text:?} in the SVG");
    }
    // The autoscaled pool's legend gives the sizes it went through.
    let sizes: Vec<f64> = report.series.iter().map(|s| s.pools[1].size).collect();
    let (low, high) = (
        sizes.iter().copied().fold(f64::MAX, f64::min),
        sizes.iter().copied().fold(0.0, f64::max),
    );
    assert!(low < high, "the autoscaler resized gpus: {sizes:?}");
    assert!(
        svg.contains(&format!("gpus (size {low} to {high})")),
        "no gpus size range"
    );
    // One whole line per pool's utilisation and size, the queue, the running count and
    // the spend.
    let lines = polylines(&svg);
    let whole: Vec<&str> = lines
        .iter()
        .filter(|&&(_, n)| n == report.series.len())
        .map(|&(stroke, _)| stroke)
        .collect();
    assert_eq!(whole.len(), 2 * report.pools.len() + 3, "{whole:?}");
    // The autoscaled pool's forecast is dashed in its colour: many short pieces.
    assert!(report.series.iter().any(|s| s.pools[1].predicted.is_some()));
    let dashes = lines
        .iter()
        .filter(|&&(stroke, n)| stroke == whole[1] && n <= 3)
        .count();
    assert!(dashes > 10, "{dashes} dashes");
}

#[test]
fn an_unwritable_path_is_named_in_the_error() {
    let scratch = Scratch::new("unwritable");
    let path = scratch.unwritable();
    let error = sim::write_svg(&report(), &path).unwrap_err();
    assert!(matches!(error, PlotError::Write { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn qm_run_writes_the_plot_and_fails_clearly_when_it_cannot() {
    let scratch = Scratch::new("cli");
    let scenario = scratch.0.join("plot-check.ron");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let qm = |plot: &PathBuf| {
        Command::new(env!("CARGO_BIN_EXE_qm"))
            .arg("run")
            .arg(&scenario)
            .arg("--plot")
            .arg(plot)
            .output()
            .unwrap()
    };

    let plot = scratch.0.join("run.svg");
    let done = qm(&plot);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));

    let unwritable = scratch.unwritable();
    let failed = qm(&unwritable);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot write the plot to {}",
            unwritable.display()
        )),
        "{stderr}"
    );
}
