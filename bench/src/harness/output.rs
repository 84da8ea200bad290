//! The report on disk: `report.md` for people, `report.json` for tools, `scaling.svg`.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use super::{BenchError, BenchReport, ScalingPoint, SimulatorFigure, Spread};

/// Writes the three files into `dir`, creating it.
pub fn write_report(report: &BenchReport, dir: &Path) -> Result<(), BenchError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| BenchError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| BenchError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let json = serde_json::to_string_pretty(report).map_err(|e| BenchError::Write {
        path: dir.join("report.json"),
        source: e.into(),
    })?;
    write("report.json", json)?;
    write("report.md", markdown(report))?;
    let chart = dir.join("scaling.svg");
    let mut svg = String::new();
    draw_scaling(&report.by_requests, &mut svg).map_err(|reason| BenchError::Chart {
        path: chart.clone(),
        reason,
    })?;
    write("scaling.svg", svg)
}

fn spread(figure: &Option<Spread>, unit: &str) -> String {
    match figure {
        Some(s) => format!(
            "{} {unit} (min {}, max {}, {} runs)",
            number(s.median),
            number(s.min),
            number(s.max),
            s.runs
        ),
        None => "not measured".to_owned(),
    }
}

/// Three significant figures, thousands separated: 812,000 or 0.286.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 1000.0 {
        let digits = value.abs().log10().floor() as i32 + 1;
        let scale = 10f64.powi((digits - 3).max(0));
        let rounded = ((value / scale).round() * scale) as i64;
        let text = rounded.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in text.chars().enumerate() {
            if i > 0 && (text.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if rounded < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.2}×"))
}

fn simulator_row(out: &mut String, name: &str, figure: &SimulatorFigure) {
    let wait = figure
        .mean_wait
        .map_or("n/a".to_owned(), |w| number(w.median));
    let expected = figure.erlang_c_mean_wait.map_or("n/a".to_owned(), number);
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {wait} | {expected} |",
        number(figure.customers as f64),
        spread(&figure.customers_per_sec, "/s"),
    );
}

/// The report for people, as written to `report.md`.
pub fn markdown(report: &BenchReport) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(out, "# Quartermaster benchmarks\n");
    let _ = writeln!(
        out,
        "{} run. Machine: {} cores, {}, {:.1} GiB, {}. Versions: {}, quartermaster {}, SimPy {}.\n",
        if report.plan.quick { "Quick" } else { "Full" },
        m.cores,
        m.cpu,
        m.memory_gib,
        m.os,
        m.rustc,
        m.quartermaster,
        report.simpy_version.as_deref().unwrap_or("not available"),
    );
    let _ = writeln!(out, "## M/M/8 at utilisation 0.8 (`scenarios/mmc.ron`)\n");
    let _ = writeln!(
        out,
        "| simulator | customers | customers/s (median) | mean wait (s) | Erlang C (s) |\n|---|---|---|---|---|"
    );
    simulator_row(&mut out, "actor simulator", &report.actors);
    simulator_row(&mut out, "binary-heap loop", &report.heap_loop);
    if let Some(simpy) = &report.simpy {
        simulator_row(&mut out, "SimPy", simpy);
    }
    let _ = writeln!(
        out,
        "\nActors vs heap loop: {} (the heap loop is {} faster). Actors vs SimPy: {}.\n",
        ratio(report.actors_vs_heap_loop()),
        ratio(report.actors_vs_heap_loop().map(|r| 1.0 / r)),
        ratio(report.actors_vs_simpy()),
    );

    let _ = writeln!(out, "## Two-class priority M/M/8 (20% urgent)\n");
    let _ = writeln!(
        out,
        "| simulator | customers | customers/s | urgent mean wait (s) | normal mean wait (s) |\n|---|---|---|---|---|"
    );
    let optional = |v: Option<f64>| v.map_or("n/a".to_owned(), number);
    for row in &report.priority {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.simulator,
            number(row.customers as f64),
            number(row.customers_per_sec),
            optional(row.mean_wait_urgent),
            optional(row.mean_wait_normal),
        );
    }
    if let Some(expected) = report.priority_expected {
        let _ = writeln!(
            out,
            "| Cobham (non-preemptive priority) | | | {} | {} |",
            number(expected.urgent),
            number(expected.normal)
        );
    }

    let rl = &report.rate_limit;
    let _ = writeln!(out, "\n## Rate limiting, ns per decision\n");
    let _ = writeln!(
        out,
        "- token bucket, timed here: {}",
        spread(&rl.token_bucket_ns, "ns")
    );
    let _ = writeln!(
        out,
        "- governor (GCRA), timed here alike: {}",
        spread(&rl.governor_timed_ns, "ns")
    );
    if let (Some(ours), Some(theirs)) = (&rl.token_bucket_ns, &rl.governor_timed_ns) {
        let _ = writeln!(
            out,
            "- token bucket vs governor, medians of this run: {:.2}x governor's time",
            ours.median / theirs.median
        );
    }
    if rl.governor_ns.is_some() {
        let _ = writeln!(
            out,
            "- criterion `rate_limit/allowed`, as last run: token bucket {} ns, governor {} ns",
            optional(rl.criterion_token_bucket_ns),
            optional(rl.governor_ns),
        );
    }

    let live = &report.live;
    let _ = writeln!(out, "\n## Live engine\n");
    let _ = writeln!(
        out,
        "- quota checks, one per call: {}",
        spread(&live.quota_checks_per_sec, "/s")
    );
    let _ = writeln!(
        out,
        "- quota checks, {} per call: {}",
        super::live_figures::QUOTA_BATCH,
        spread(&live.batched_quota_checks_per_sec, "/s")
    );
    let _ = writeln!(
        out,
        "- persisted submit+complete, {} callers, group commit: {}",
        super::live_figures::CALLERS,
        spread(&live.submit_complete_group_commit_per_sec, "/s")
    );
    let _ = writeln!(
        out,
        "- the same, a commit each: {}",
        spread(&live.submit_complete_commit_each_per_sec, "/s")
    );
    let _ = writeln!(
        out,
        "- group commit vs none: {}",
        ratio(report.group_commit_gain())
    );

    if let Some(reopen) = &report.reopen {
        write_reopen(&mut out, reopen);
    }

    let _ = writeln!(out, "\n## Scaling of the actor simulator\n");
    let _ = writeln!(
        out,
        "| requests | clients | pools | wall (s), median (min–max) | requests/s (median) | heap loop wall (s) |\n|---|---|---|---|---|---|"
    );
    for point in report
        .by_requests
        .iter()
        .chain(&report.by_clients)
        .chain(&report.by_pools)
    {
        let seconds = |wall: &Option<Spread>| {
            wall.map_or(String::new(), |w| {
                format!("{:.3} ({:.3}–{:.3})", w.median, w.min, w.max)
            })
        };
        let rate = point.wall_secs.map_or("n/a".to_owned(), |w| {
            number(point.requests as f64 / w.median)
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {rate} | {} |",
            number(point.requests as f64),
            point.clients,
            point.pools,
            seconds(&point.wall_secs),
            seconds(&point.heap_loop_wall_secs),
        );
    }
    let _ = writeln!(
        out,
        "\nChart: `scaling.svg` (wall time against requests, log–log)."
    );

    let _ = writeln!(out, "\n## Memory\n");
    match &report.memory {
        Some(memory) => {
            let _ = writeln!(
                out,
                "Peak resident memory with {} requests queued at once: {:.1} MiB \
                 ({:.1} MiB with one request; {:.0} bytes per queued request).",
                number(memory.queued as f64),
                memory.peak_rss_bytes as f64 / 1048576.0,
                memory.baseline_peak_rss_bytes as f64 / 1048576.0,
                memory.bytes_per_queued_request,
            );
        }
        None => {
            let _ = writeln!(out, "Not measured: see Skipped.");
        }
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(out, "\n## Skipped\n");
        for skipped in &report.skipped {
            let _ = writeln!(out, "- {}: {}", skipped.baseline, skipped.reason);
        }
    }
    out
}

/// Wall time against requests, log–log: the actor simulator and the heap loop.
fn draw_scaling(points: &[ScalingPoint], svg: &mut String) -> Result<(), String> {
    let actors: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            Some((
                (p.requests as f64).log10(),
                p.wall_secs?.median.max(1e-6).log10(),
            ))
        })
        .collect();
    let heap: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| {
            Some((
                (p.requests as f64).log10(),
                p.heap_loop_wall_secs?.median.max(1e-6).log10(),
            ))
        })
        .collect();
    let all = actors.iter().chain(&heap);
    let (x_min, x_max) = all.clone().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (y_min, y_max) = all.fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    if actors.is_empty() {
        return Err("no scaling points to draw".to_owned());
    }
    let root = SVGBackend::with_string(svg, (900, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "replay wall time against requests (log10–log10)",
            ("sans-serif", 20),
        )
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min - 0.2..x_max + 0.2, y_min - 0.5..y_max + 0.5)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("log10 requests")
        .y_desc("log10 wall seconds")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    for (series, colour, label) in [
        (&actors, RGBColor(31, 119, 180), "actor simulator"),
        (&heap, RGBColor(255, 127, 14), "binary-heap loop"),
    ] {
        chart
            .draw_series(LineSeries::new(
                series.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn write_reopen(out: &mut String, reopen: &super::ReopenFigures) {
    let _ = writeln!(out, "\n## Restarts\n");
    let _ = writeln!(
        out,
        "Reopen after n logged commands (submit+complete pairs, 64 callers): with snapshots \
         every 10,000 commands and killed (the commands after the last snapshot are replayed), \
         and without snapshots (the whole journal is replayed).\n"
    );
    let _ = writeln!(
        out,
        "| commands | reopen, snapshots (s) | reopen, journal only (s) | ratio | database, snapshots | archive | database, journal only |\n|---|---|---|---|---|---|---|"
    );
    let mb = |bytes: u64| format!("{:.1} MB", bytes as f64 / 1e6);
    for point in &reopen.points {
        let secs = |s: &Option<Spread>| {
            s.map_or("—".to_owned(), |s| {
                format!("{:.3} ({:.3}–{:.3})", s.median, s.min, s.max)
            })
        };
        let ratio = match (point.without_snapshots_secs, point.with_snapshots_secs) {
            (Some(without), Some(with)) if with.median > 0.0 => {
                format!("{:.1}x", without.median / with.median)
            }
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            point.commands,
            secs(&point.with_snapshots_secs),
            secs(&point.without_snapshots_secs),
            ratio,
            mb(point.with_snapshots_bytes),
            mb(point.archive_bytes),
            mb(point.without_snapshots_bytes),
        );
    }
    if let Some(flat) = reopen.flatness() {
        let _ = writeln!(
            out,
            "\n- reopen with snapshots, longest history over shortest: {flat:.2}x"
        );
    }
    if let Some(snapshot) = &reopen.snapshot {
        let per = |s: &Option<Spread>| {
            s.map_or("—".to_owned(), |s| {
                format!(
                    "{:.3} s ({:.2} µs per queued request)",
                    s.median,
                    s.median * 1e6 / snapshot.queued.max(1) as f64
                )
            })
        };
        let _ = writeln!(
            out,
            "- snapshot of {} queued requests: holds the sequencer {}, {} in all, {}",
            snapshot.queued,
            per(&snapshot.hold_secs),
            per(&snapshot.total_secs),
            mb(snapshot.bytes)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_figures_with_separators() {
        assert_eq!(number(812_345.0), "812,000");
        assert_eq!(number(12_600_000.0), "12,600,000");
        assert_eq!(number(348.447), "348");
        assert_eq!(number(12.84), "12.8");
        assert_eq!(number(0.28571), "0.286");
    }
}
