//! The performance plots, as Jepsen's perf checker draws them for Maelstrom, in SVG with
//! plotters: `latency-raw.svg` (every completed operation's latency against its invocation
//! time; colour by outcome, shape by function), `latency-quantiles.svg` (latency quantiles
//! 0.5, 0.95, 0.99 and 1 of completed operations per time bin, by function) and `rate.svg`
//! (completions per second per time bin, by function and outcome). Partitions are shaded on
//! all three.
//!
//! Latency axes are logarithmic; in-process runs answer many operations in 0 ms of virtual
//! time, which a log axis cannot show, so latencies below [`FLOOR_MS`] are drawn at it. Bins
//! are about a fortieth of the run, rounded to 0.1, 0.2, 0.5, 1, 2, 5, ... seconds (Jepsen
//! uses fixed 10 s and 30 s bins, meant for longer tests).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Ops, RunViews, kind_color, pairs};
use crate::sim::history::OpType;

/// Latencies below this (ms) are drawn at it on the log axes.
pub const FLOOR_MS: f64 = 0.01;
/// Plot size in pixels.
const SIZE: (u32, u32) = (1000, 520);
/// Quantiles of the quantile plot, each with its colour.
const QUANTILES: [(f64, RGBColor); 4] = [
    (0.5, RGBColor(0x1f, 0x77, 0xb4)),
    (0.95, RGBColor(0x2c, 0xa0, 0x2c)),
    (0.99, RGBColor(0xff, 0x7f, 0x0e)),
    (1.0, RGBColor(0xd6, 0x27, 0x28)),
];
const PARTITION: RGBColor = RGBColor(0xf4, 0xd6, 0xd6);

/// A completed operation: function, outcome, invocation time (s), latency (ms).
struct Point {
    f: usize,
    kind: OpType,
    t: f64,
    ms: f64,
}

struct Data {
    fs: Vec<&'static str>,
    points: Vec<Point>,
    t_max: f64,
    partitions: Vec<(f64, f64)>,
}

fn data(run: &RunViews) -> Data {
    let ops: &dyn Ops = &*run.ops;
    let mut fs: Vec<&'static str> = Vec::new();
    let mut points = Vec::new();
    for p in pairs(ops) {
        let Some(c) = p.complete else { continue };
        let (inv, done) = (ops.head(p.invoke), ops.head(c));
        let f = match fs.iter().position(|&x| x == inv.f) {
            Some(i) => i,
            None => {
                fs.push(inv.f);
                fs.len() - 1
            }
        };
        points.push(Point {
            f,
            kind: done.kind,
            t: inv.time as f64 / 1e9,
            ms: done.time.saturating_sub(inv.time) as f64 / 1e6,
        });
    }
    let last_op = ops.len().checked_sub(1).map_or(0.0, |i| ops.head(i).time as f64 / 1e9);
    let t_max = run.duration.as_secs_f64().max(last_op).max(1.0);
    let partitions = run.partitions.iter().map(|p| (p.start_s, p.end_s.unwrap_or(t_max))).collect();
    Data { fs, points, t_max, partitions }
}

/// Splits points at bin mid-times (spaced `dt`) into runs of consecutive bins.
fn split_runs(pts: &[(f64, f64)], dt: f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    for &p in pts {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|q| p.0 - q.0 < dt * 1.5) => run.push(p),
            _ => runs.push(vec![p]),
        }
    }
    runs
}

/// A bin width of about a fortieth of `t_max`, rounded to 1, 2 or 5 times a power of ten.
pub fn bin_width(t_max: f64) -> f64 {
    let raw = (t_max / 40.0).max(0.1);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|&w| w >= raw - 1e-9).unwrap_or(10.0 * p)
}

fn rgb(k: OpType) -> RGBColor {
    let (r, g, b) = kind_color(k);
    // Jepsen's pastel fills are too light for small markers: darken them a little.
    RGBColor((f64::from(r) * 0.8) as u8, (f64::from(g) * 0.8) as u8, (f64::from(b) * 0.8) as u8)
}

fn kind_name(k: OpType) -> &'static str {
    match k {
        OpType::Ok => "ok",
        OpType::Info => "info",
        OpType::Fail => "fail",
        OpType::Invoke => "invoke",
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// One line of a plot: (function index, quantile index or outcome, points).
type Series<K> = (usize, K, Vec<(f64, f64)>);
type Res = Result<(), Box<dyn std::error::Error>>;

/// Renders with `draw`; a drawing error leaves a plot that says so instead.
fn render(draw: impl FnOnce(&Area<'_>) -> Res) -> String {
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let r = root.fill(&WHITE).map_err(Into::into).and_then(|()| draw(&root));
        r.and_then(|()| root.present().map_err(Into::into))
    };
    if let Err(e) = result {
        let mut msg = String::new();
        super::xml_escape(&mut msg, &e.to_string());
        out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\"><text x=\"20\" y=\"40\">plot failed: {msg}</text></svg>\n",
            SIZE.0, SIZE.1
        );
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// Log-axis bounds around latencies `ms`.
fn latency_range<'a>(ms: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    let max = ms.fold(1.0_f64, |m, &x| m.max(x));
    (FLOOR_MS, max * 1.5)
}

/// `latency-raw.svg`.
pub fn latency_raw(run: &RunViews) -> String {
    let d = data(run);
    render(|root| {
        let (lo, hi) = latency_range(d.points.iter().map(|p| &p.ms));
        let mut chart = ChartBuilder::on(root)
            .caption(format!("latency: {}", run.title), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..d.t_max, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("invocation time (s)")
            .y_desc(format!("latency (ms, log; < {FLOOR_MS} at {FLOOR_MS})"))
            .draw()?;
        chart.draw_series(
            d.partitions
                .iter()
                .map(|&(a, b)| Rectangle::new([(a, lo), (b, hi)], PARTITION.mix(0.6).filled())),
        )?;
        for (fi, f) in d.fs.iter().enumerate() {
            for kind in [OpType::Ok, OpType::Info, OpType::Fail] {
                let pts: Vec<(f64, f64)> = d
                    .points
                    .iter()
                    .filter(|p| p.f == fi && p.kind == kind)
                    .map(|p| (p.t, p.ms.max(FLOOR_MS)))
                    .collect();
                if pts.is_empty() {
                    continue;
                }
                let c = rgb(kind);
                let label = format!("{f} {}", kind_name(kind));
                // Shape by function: circle, triangle, cross, square, then around again.
                match fi % 4 {
                    0 => chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.mix(0.7).filled())))?
                        .label(label)
                        .legend(move |(x, y)| Circle::new((x, y), 3, c.filled())),
                    1 => chart
                        .draw_series(
                            pts.iter().map(|&p| TriangleMarker::new(p, 3, c.mix(0.7).filled())),
                        )?
                        .label(label)
                        .legend(move |(x, y)| TriangleMarker::new((x, y), 4, c.filled())),
                    2 => chart
                        .draw_series(pts.iter().map(|&p| Cross::new(p, 3, c.mix(0.8))))?
                        .label(label)
                        .legend(move |(x, y)| Cross::new((x, y), 4, c)),
                    _ => chart
                        .draw_series(pts.iter().map(|&(x, y)| {
                            EmptyElement::at((x, y))
                                + Rectangle::new([(-2, -2), (2, 2)], c.mix(0.7).filled())
                        }))?
                        .label(label)
                        .legend(move |(x, y)| {
                            Rectangle::new([(x - 3, y - 3), (x + 3, y + 3)], c.filled())
                        }),
                };
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// `latency-quantiles.svg`.
pub fn latency_quantiles(run: &RunViews) -> String {
    let d = data(run);
    let dt = bin_width(d.t_max);
    let bins = (d.t_max / dt).ceil().max(1.0) as usize;
    render(|root| {
        // series[(f, q)] = (bin mid time, latency at q) for non-empty bins.
        let mut series: Vec<Series<usize>> = Vec::new();
        let mut all: Vec<f64> = Vec::new();
        for fi in 0..d.fs.len() {
            let mut by_bin: Vec<Vec<f64>> = vec![Vec::new(); bins];
            for p in d.points.iter().filter(|p| p.f == fi) {
                let b = ((p.t / dt) as usize).min(bins - 1);
                by_bin[b].push(p.ms);
            }
            for v in &mut by_bin {
                v.sort_unstable_by(f64::total_cmp);
            }
            for (qi, &(q, _)) in QUANTILES.iter().enumerate() {
                let pts: Vec<(f64, f64)> = by_bin
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(b, v)| {
                        let i = ((v.len() as f64 * q) as usize).min(v.len() - 1);
                        ((b as f64 + 0.5) * dt, v[i].max(FLOOR_MS))
                    })
                    .collect();
                all.extend(pts.iter().map(|p| p.1));
                series.push((fi, qi, pts));
            }
        }
        let (lo, hi) = latency_range(all.iter());
        let mut chart = ChartBuilder::on(root)
            .caption(format!("latency quantiles ({dt} s bins): {}", run.title), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..d.t_max, (lo..hi).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc(format!("latency (ms, log; < {FLOOR_MS} at {FLOOR_MS})"))
            .draw()?;
        chart.draw_series(
            d.partitions
                .iter()
                .map(|&(a, b)| Rectangle::new([(a, lo), (b, hi)], PARTITION.mix(0.6).filled())),
        )?;
        for (fi, qi, pts) in series {
            if pts.is_empty() {
                continue;
            }
            let (q, base) = QUANTILES[qi];
            // Functions after the first get a darker shade of each quantile's colour.
            let shade = 1.0 - 0.3 * (fi % 3) as f64;
            let c = RGBColor(
                (f64::from(base.0) * shade) as u8,
                (f64::from(base.1) * shade) as u8,
                (f64::from(base.2) * shade) as u8,
            );
            // One line per run of consecutive non-empty bins: no line across a stretch
            // without operations (the quiet period before final reads).
            let runs = split_runs(&pts, dt);
            for (r, run) in runs.iter().enumerate() {
                let series =
                    chart.draw_series(LineSeries::new(run.iter().copied(), c.stroke_width(2)))?;
                if r == 0 {
                    series.label(format!("{} {q}", d.fs[fi])).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                    });
                }
            }
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, c.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// `rate.svg`.
pub fn rate(run: &RunViews) -> String {
    let d = data(run);
    let dt = bin_width(d.t_max);
    let bins = (d.t_max / dt).ceil().max(1.0) as usize;
    render(|root| {
        let mut series: Vec<Series<OpType>> = Vec::new();
        let mut max: f64 = 1.0;
        for fi in 0..d.fs.len() {
            for kind in [OpType::Ok, OpType::Info, OpType::Fail] {
                let mut counts = vec![0u64; bins];
                let mut any = false;
                for p in d.points.iter().filter(|p| p.f == fi && p.kind == kind) {
                    counts[((p.t / dt) as usize).min(bins - 1)] += 1;
                    any = true;
                }
                if !any {
                    continue;
                }
                let pts: Vec<(f64, f64)> = counts
                    .iter()
                    .enumerate()
                    .map(|(b, &n)| ((b as f64 + 0.5) * dt, n as f64 / dt))
                    .collect();
                max = pts.iter().fold(max, |m, p| m.max(p.1));
                series.push((fi, kind, pts));
            }
        }
        let hi = max * 1.15;
        let mut chart = ChartBuilder::on(root)
            .caption(format!("throughput ({dt} s bins): {}", run.title), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..d.t_max, 0f64..hi)?;
        chart.configure_mesh().x_desc("time (s)").y_desc("completions per second").draw()?;
        chart.draw_series(
            d.partitions
                .iter()
                .map(|&(a, b)| Rectangle::new([(a, 0.0), (b, hi)], PARTITION.mix(0.6).filled())),
        )?;
        for (fi, kind, pts) in series {
            let base = rgb(kind);
            let shade = 1.0 - 0.3 * (fi % 3) as f64;
            let c = RGBColor(
                (f64::from(base.0) * shade) as u8,
                (f64::from(base.1) * shade) as u8,
                (f64::from(base.2) * shade) as u8,
            );
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
                .label(format!("{} {}", d.fs[fi], kind_name(kind)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_across_empty_bins() {
        let runs = split_runs(&[(0.5, 1.0), (1.5, 2.0), (5.5, 3.0)], 1.0);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].len(), 2);
    }

    #[test]
    fn bins_are_round_and_about_a_fortieth() {
        assert_eq!(bin_width(30.0), 1.0);
        assert_eq!(bin_width(20.0), 0.5);
        assert_eq!(bin_width(60.0), 2.0);
        assert_eq!(bin_width(1.0), 0.1);
        assert_eq!(bin_width(1000.0), 50.0);
    }
}
