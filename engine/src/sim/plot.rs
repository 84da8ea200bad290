//! The run's time series drawn as an SVG a browser can open: pool utilisation, pool size,
//! queue depth and running count, and cumulative spend, in four panels over one time axis.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::Report;
use crate::actors::Sample;
use crate::model::Timestamp;

/// Why the plot of a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw the plot for {}: {source}", path.display())]
    Draw {
        path: PathBuf,
        source: DrawingAreaErrorKind<std::io::Error>,
    },
    #[error("cannot write the plot to {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Draws the report's time series and writes them to `path` as SVG.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), PlotError> {
    let mut svg = String::new();
    draw(report, &mut svg).map_err(|source| PlotError::Draw {
        path: path.to_owned(),
        source,
    })?;
    std::fs::write(path, svg).map_err(|source| PlotError::Write {
        path: path.to_owned(),
        source,
    })
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult<T> = Result<T, DrawingAreaErrorKind<std::io::Error>>;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 1200;
const LEGEND_WIDTH: u32 = 210;
const X_LABEL_AREA: u32 = 50;
const Y_LABEL_AREA: u32 = 70;
const X_LABELS: usize = 12;
const Y_LABELS: usize = 6;
/// A long run has more samples than the plot has pixels; beyond this many points per
/// series they are summarised (mean line, min–max band) so noise does not fill the panel.
const MAX_POINTS: usize = 400;
const FONT: &str = "sans-serif";

/// Tableau 10: distinct from one another on white.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The samples that fall in one stretch of the time axis.
#[derive(Debug, Clone, Copy)]
struct Span {
    x: f64,
    mean: f64,
    low: f64,
    high: f64,
}

struct Line {
    spans: Vec<Span>,
    colour: RGBColor,
    dashed: bool,
}

struct LegendEntry {
    label: String,
    colour: RGBColor,
    dashed: bool,
}

struct Axis {
    desc: &'static str,
    top: f64,
    lines: Vec<Line>,
}

struct Panel {
    left: Axis,
    right: Option<Axis>,
    legend: Vec<LegendEntry>,
}

/// The unit the time axis counts in, chosen so the run spans a readable number of them.
struct TimeAxis {
    unit_secs: f64,
    desc: &'static str,
    end: f64,
}

impl TimeAxis {
    fn for_report(report: &Report) -> Self {
        let last_sample = report.series.last().map_or(report.started_at, |s| s.at);
        let span_secs = report
            .ended_at
            .max(last_sample)
            .since(report.started_at)
            .as_secs_f64();
        let (unit_secs, desc) = if span_secs < 180.0 {
            (1.0, "time from start (seconds)")
        } else if span_secs < 3.0 * 3600.0 {
            (60.0, "time from start (minutes)")
        } else {
            (3600.0, "time from start (hours)")
        };
        TimeAxis {
            unit_secs,
            desc,
            // A run that ends where it starts still needs an axis of some width.
            end: (span_secs / unit_secs).max(1.0),
        }
    }

    fn x(&self, report: &Report, at: Timestamp) -> f64 {
        at.since(report.started_at).as_secs_f64() / self.unit_secs
    }

    /// Summarises `points` (in time order) to at most about `MAX_POINTS` spans.
    fn thin(&self, points: &[(f64, f64)]) -> Vec<Span> {
        let width = self.end / MAX_POINTS as f64;
        let mut spans = Vec::new();
        let mut group: Option<(f64, usize, Span)> = None;
        for &(x, y) in points {
            let bucket = (x / width).floor();
            match &mut group {
                Some((b, n, span)) if *b == bucket => {
                    *n += 1;
                    span.x += x;
                    span.mean += y;
                    span.low = span.low.min(y);
                    span.high = span.high.max(y);
                }
                _ => {
                    spans.extend(group.take().map(|(_, n, span)| averaged(n, span)));
                    let span = Span {
                        x,
                        mean: y,
                        low: y,
                        high: y,
                    };
                    group = Some((bucket, 1, span));
                }
            }
        }
        spans.extend(group.map(|(_, n, span)| averaged(n, span)));
        spans
    }
}

fn averaged(n: usize, sums: Span) -> Span {
    Span {
        x: sums.x / n as f64,
        mean: sums.mean / n as f64,
        ..sums
    }
}

fn draw(report: &Report, svg: &mut String) -> DrawResult<()> {
    let time = TimeAxis::for_report(report);
    let panels = [
        utilisation_panel(report, &time),
        size_panel(report, &time),
        load_panel(report, &time),
        spend_panel(report, &time),
    ];
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        &format!("Scenario {} (seed {})", report.scenario, report.seed),
        (FONT, 28),
    )?;
    let (charts, legends) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    // Equal plotting heights: the bottom panel also holds the shared time labels.
    let plot_height = (charts.dim_in_pixel().1 - X_LABEL_AREA) / panels.len() as u32;
    let last = panels.len() - 1;
    let (mut chart_rest, mut legend_rest) = (charts, legends);
    for (i, panel) in panels.iter().enumerate() {
        let (chart, legend) = if i == last {
            (chart_rest.clone(), legend_rest.clone())
        } else {
            let (chart, below) = chart_rest.split_vertically(plot_height);
            let (legend, legend_below) = legend_rest.split_vertically(plot_height);
            (chart_rest, legend_rest) = (below, legend_below);
            (chart, legend)
        };
        draw_panel(panel, &chart, &time, i == last)?;
        draw_legend(&panel.legend, &legend)?;
    }
    root.present()
}

fn utilisation_panel(report: &Report, time: &TimeAxis) -> Panel {
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    for (i, pool) in report.pools.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let at = |s: &Sample| time.x(report, s.at);
        let measured: Vec<(f64, f64)> = report
            .series
            .iter()
            .filter_map(|s| Some((at(s), s.pools.get(i)?.utilisation * 100.0)))
            .collect();
        lines.push(Line {
            spans: time.thin(&measured),
            colour,
            dashed: false,
        });
        let predicted = runs(report.series.iter().map(|s| {
            let value = s.pools.get(i)?.predicted?;
            Some((at(s), value * 100.0))
        }));
        lines.extend(predicted.iter().map(|points| Line {
            spans: time.thin(points),
            colour,
            dashed: true,
        }));
        legend.push(LegendEntry {
            label: pool.pool.clone(),
            colour,
            dashed: false,
        });
    }
    if lines.iter().any(|line| line.dashed) {
        legend.push(LegendEntry {
            label: "forecast".to_owned(),
            colour: BLACK,
            dashed: true,
        });
    }
    // Forecasts may overshoot wildly while the fit has few samples; the axis follows
    // what was measured and forecasts beyond it are drawn at its edge.
    let measured_peak = peak(lines.iter().filter(|line| !line.dashed));
    Panel {
        left: Axis {
            desc: "utilisation (%)",
            top: measured_peak.max(100.0) * 1.05,
            lines,
        },
        right: None,
        legend,
    }
}

/// Each pool's size (slots, or a bucket's capacity) over time: as it is for a single pool,
/// else as a share of its size at the first sample so pools of any unit share the axis;
/// the legend gives the sizes seen. An autoscaled pool's resizes show here beside its
/// utilisation above.
fn size_panel(report: &Report, time: &TimeAxis) -> Panel {
    let absolute = report.pools.len() == 1;
    let mut lines = Vec::new();
    let mut legend = Vec::new();
    for (i, pool) in report.pools.iter().enumerate() {
        let sizes: Vec<(f64, f64)> = report
            .series
            .iter()
            .filter_map(|s| Some((time.x(report, s.at), s.pools.get(i)?.size)))
            .collect();
        let Some(&(_, first)) = sizes.first() else {
            continue;
        };
        let (low, high) = sizes
            .iter()
            .fold((f64::INFINITY, 0.0_f64), |(low, high), &(_, size)| {
                (low.min(size), high.max(size))
            });
        let base = if first > 0.0 { first } else { high.max(1.0) };
        let scale = if absolute { 1.0 } else { 100.0 / base };
        let relative: Vec<(f64, f64)> = sizes.iter().map(|&(x, size)| (x, size * scale)).collect();
        let colour = COLOURS[i % COLOURS.len()];
        lines.push(Line {
            spans: time.thin(&relative),
            colour,
            dashed: false,
        });
        let range = if low == high {
            format!("size {}", count(high))
        } else {
            format!("size {} to {}", count(low), count(high))
        };
        legend.push(LegendEntry {
            label: format!("{} ({range})", pool.pool),
            colour,
            dashed: false,
        });
    }
    let (desc, floor) = if absolute {
        ("size", 1.0)
    } else {
        ("size (% of first)", 100.0)
    };
    Panel {
        left: Axis {
            desc,
            top: peak(&lines).max(floor) * 1.1,
            lines,
        },
        right: None,
        legend,
    }
}

/// A pool size as people write it: whole sizes without decimals.
fn count(size: f64) -> String {
    if size.fract() == 0.0 {
        format!("{size:.0}")
    } else {
        format!("{size:.2}")
    }
}

/// Queue depth can be thousands while the running count stays at the pools' size, so
/// each has its own axis.
fn load_panel(report: &Report, time: &TimeAxis) -> Panel {
    let queued_colour = COLOURS[3];
    let running_colour = COLOURS[0];
    let series = |count: fn(&Sample) -> usize| {
        let points: Vec<(f64, f64)> = report
            .series
            .iter()
            .map(|s| (time.x(report, s.at), count(s) as f64))
            .collect();
        time.thin(&points)
    };
    let queued = Line {
        spans: series(|s| s.queued),
        colour: queued_colour,
        dashed: false,
    };
    let running = Line {
        spans: series(|s| s.running),
        colour: running_colour,
        dashed: false,
    };
    let count_top = |line: &Line| (peak([line]) * 1.1).ceil().max(5.0);
    Panel {
        left: Axis {
            desc: "queued requests",
            top: count_top(&queued),
            lines: vec![queued],
        },
        right: Some(Axis {
            desc: "running requests",
            top: count_top(&running),
            lines: vec![running],
        }),
        legend: vec![
            LegendEntry {
                label: "queued (left axis)".to_owned(),
                colour: queued_colour,
                dashed: false,
            },
            LegendEntry {
                label: "running (right axis)".to_owned(),
                colour: running_colour,
                dashed: false,
            },
        ],
    }
}

fn spend_panel(report: &Report, time: &TimeAxis) -> Panel {
    let colour = COLOURS[2];
    let spent: Vec<(f64, f64)> = report
        .series
        .iter()
        .map(|s| (time.x(report, s.at), s.spent.as_f64()))
        .collect();
    let line = Line {
        spans: time.thin(&spent),
        colour,
        dashed: false,
    };
    let top = peak([&line]);
    Panel {
        left: Axis {
            desc: "spend ($)",
            top: if top > 0.0 { top * 1.1 } else { 1.0 },
            lines: vec![line],
        },
        right: None,
        legend: vec![LegendEntry {
            label: "cumulative spend".to_owned(),
            colour,
            dashed: false,
        }],
    }
}

fn peak<'a>(lines: impl IntoIterator<Item = &'a Line>) -> f64 {
    lines
        .into_iter()
        .flat_map(|line| &line.spans)
        .map(|span| span.high)
        .fold(0.0, f64::max)
}

/// Splits a series with gaps into its unbroken runs.
fn runs(points: impl Iterator<Item = Option<(f64, f64)>>) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for point in points {
        match point {
            Some(p) => runs.last_mut().expect("never empty").push(p),
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

fn draw_panel(
    panel: &Panel,
    area: &Area<'_>,
    time: &TimeAxis,
    with_time_labels: bool,
) -> DrawResult<()> {
    // Every panel keeps room for a right axis so that all three share one x scale; the
    // secondary coordinates claim that room, so the left axis is not repeated in it.
    let right_top = panel
        .right
        .as_ref()
        .map_or(panel.left.top, |right| right.top);
    let mut chart = ChartBuilder::on(area)
        .margin_top(12)
        .x_label_area_size(if with_time_labels { X_LABEL_AREA } else { 0 })
        .y_label_area_size(Y_LABEL_AREA)
        .right_y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..time.end, 0.0..panel.left.top)?
        .set_secondary_coord(0.0..time.end, 0.0..right_top);
    let x_decimals = decimals_for(time.end, X_LABELS);
    let x_label = |x: &f64| {
        if with_time_labels {
            format!("{x:.x_decimals$}")
        } else {
            String::new()
        }
    };
    let left_label = tick_label(panel.left.top);
    let mut mesh = chart.configure_mesh();
    mesh.x_labels(X_LABELS)
        .y_labels(Y_LABELS)
        .x_label_formatter(&x_label)
        .y_label_formatter(&left_label)
        .y_desc(panel.left.desc)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .light_line_style(WHITE);
    if with_time_labels {
        mesh.x_desc(time.desc);
    }
    mesh.draw()?;
    for line in &panel.left.lines {
        draw_line(&mut chart, line, 1.0, panel.left.top)?;
    }
    if let Some(right) = &panel.right {
        // Drawn on the left scale; the right axis only labels it.
        let scale = panel.left.top / right.top;
        for line in &right.lines {
            draw_line(&mut chart, line, scale, panel.left.top)?;
        }
        let right_label = tick_label(right.top);
        chart
            .configure_secondary_axes()
            .y_labels(Y_LABELS)
            .y_label_formatter(&right_label)
            .y_desc(right.desc)
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 14))
            .draw()?;
    }
    Ok(())
}

/// A line's mean, over a light band from its lowest to its highest value where several
/// samples were summarised into one point; values beyond the axis are drawn at its edge.
fn draw_line(chart: &mut Chart<'_, '_>, line: &Line, scale: f64, top: f64) -> DrawResult<()> {
    let y = |value: f64| (value * scale).clamp(0.0, top);
    let style = line.colour.stroke_width(2);
    let mean = line.spans.iter().map(|s| (s.x, y(s.mean)));
    if line.dashed {
        chart.draw_series(DashedLineSeries::new(mean, 6, 4, style))?;
        return Ok(());
    }
    if line.spans.iter().any(|s| s.low < s.high) {
        let upper = line.spans.iter().map(|s| (s.x, y(s.high)));
        let lower = line.spans.iter().rev().map(|s| (s.x, y(s.low)));
        chart.draw_series(std::iter::once(Polygon::new(
            upper.chain(lower).collect::<Vec<_>>(),
            line.colour.mix(0.2).filled(),
        )))?;
    }
    chart.draw_series(LineSeries::new(mean, style))?;
    Ok(())
}

/// The legend sits beside its panel rather than on it, so it never hides a line.
fn draw_legend(entries: &[LegendEntry], area: &Area<'_>) -> DrawResult<()> {
    const ROW: i32 = 22;
    const SWATCH: i32 = 32;
    for (row, entry) in (0..).zip(entries) {
        let y = 24 + row * ROW;
        let swatch = [(8, y), (8 + SWATCH, y)];
        let style = entry.colour.stroke_width(2);
        if entry.dashed {
            area.draw(&DashedPathElement::new(swatch, 6, 4, style))?;
        } else {
            area.draw(&PathElement::new(swatch, style))?;
        }
        area.draw(&Text::new(
            entry.label.as_str(),
            (16 + SWATCH, y - 8),
            (FONT, 15),
        ))?;
    }
    Ok(())
}

/// Tick labels for an axis from 0 to `top`, with enough decimals to tell them apart.
fn tick_label(top: f64) -> impl Fn(&f64) -> String {
    let decimals = decimals_for(top, Y_LABELS);
    move |value: &f64| format!("{value:.decimals$}")
}

/// Enough decimals for about `labels` tick labels across a span to differ from one
/// another.
fn decimals_for(span: f64, labels: usize) -> usize {
    let step = span / labels as f64;
    if step <= 0.0 || !step.is_finite() {
        return 0;
    }
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(end: f64) -> TimeAxis {
        TimeAxis {
            unit_secs: 1.0,
            desc: "",
            end,
        }
    }

    #[test]
    fn thinning_keeps_each_stretchs_mean_and_extremes() {
        let time = seconds(MAX_POINTS as f64);
        // Ten samples per stretch of the axis, cycling 0, 1, 2, 3.
        let points: Vec<(f64, f64)> = (0..MAX_POINTS * 10)
            .map(|i| (i as f64 / 10.0, (i % 4) as f64))
            .collect();
        let spans = time.thin(&points);
        assert_eq!(spans.len(), MAX_POINTS);
        let first = spans[0];
        assert!((first.x - 0.45).abs() < 1e-9, "{first:?}");
        assert!((first.mean - 1.3).abs() < 1e-9, "{first:?}");
        assert_eq!((first.low, first.high), (0.0, 3.0));
    }

    #[test]
    fn a_short_series_is_drawn_as_it_is() {
        let points = [(0.0, 5.0), (2.0, 7.0), (4.0, 6.0)];
        let spans = seconds(4.0).thin(&points);
        let kept: Vec<(f64, f64, f64, f64)> =
            spans.iter().map(|s| (s.x, s.mean, s.low, s.high)).collect();
        assert_eq!(
            kept,
            [
                (0.0, 5.0, 5.0, 5.0),
                (2.0, 7.0, 7.0, 7.0),
                (4.0, 6.0, 6.0, 6.0)
            ]
        );
    }

    #[test]
    fn a_series_with_gaps_splits_into_its_runs() {
        let points = [
            None,
            Some((1.0, 1.0)),
            Some((2.0, 2.0)),
            None,
            None,
            Some((5.0, 5.0)),
        ];
        assert_eq!(
            runs(points.into_iter()),
            [vec![(1.0, 1.0), (2.0, 2.0)], vec![(5.0, 5.0)]]
        );
        assert!(runs([None, None].into_iter()).is_empty());
    }

    #[test]
    fn tick_labels_have_just_enough_decimals_to_differ() {
        assert_eq!(decimals_for(22.0, 12), 0);
        assert_eq!(decimals_for(105.0, 6), 0);
        assert_eq!(decimals_for(1.0, 6), 1);
        assert_eq!(decimals_for(0.107, 6), 2);
        assert_eq!(tick_label(0.107)(&0.04), "0.04");
        assert_eq!(decimals_for(0.0, 6), 0);
    }
}
