//! SVG plots of a report: cost against SLO violations, latency CDFs, and
//! load and replicas over time for a few servers. SVG text needs no fonts
//! on the machine.

use super::report::Report;
use super::run::ServerTimeline;
use super::stats::Stats;
use plotters::prelude::*;

pub use crate::plot::PlotError;
use crate::plot::{Shade, Steps, color, draw_legend, err, legend_line};

type Svg = (String, String);

/// Every plot as (file name, SVG text).
pub fn all(
    report: &Report,
    stats: &[Stats],
    timelines: &[ServerTimeline],
) -> Result<Vec<Svg>, PlotError> {
    let mut out = vec![cost_vs_slo(report)?, latency_cdf(report, stats)?];
    if let Some(f) = &report.frontier {
        out.push(super::frontier_plot::frontier(f)?);
    }
    for (k, tl) in timelines.iter().enumerate() {
        out.push(timeline(report, tl, k)?);
    }
    Ok(out)
}

/// The plots' file names: two fixed, one per plotted server's timeline.
pub const COST_VS_SLO: &str = "cost_vs_slo.svg";
/// The latency tail's file.
pub const LATENCY_CDF: &str = "latency_cdf.svg";
/// How a timeline's file name begins (`timeline_K_SERVER.svg`).
pub const TIMELINE_PREFIX: &str = "timeline_";

/// Replica-hours (x) against SLO violation % (y), one labelled point per policy.
pub fn cost_vs_slo(report: &Report) -> Result<Svg, PlotError> {
    let name = COST_VS_SLO;
    let e = err(name);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let ps = &report.policies;
        let xmax = ps.iter().map(|p| p.replica_hours).fold(1.0, f64::max) * 1.15;
        let ymax = ps
            .iter()
            .map(|p| p.slo_violation_ratio * 100.0)
            .fold(0.1, f64::max)
            * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Cost vs SLO violations (lower left is better)",
                ("sans-serif", 22),
            )
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..xmax, 0.0..ymax)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc("replica-hours")
            .y_desc("SLO violations (%)")
            .draw()
            .map_err(&e)?;
        for (i, p) in ps.iter().enumerate() {
            let at = (p.replica_hours, p.slo_violation_ratio * 100.0);
            chart
                .draw_series([Circle::new(at, 6, color(i).filled())])
                .map_err(&e)?;
            chart
                .draw_series([Text::new(
                    p.name.clone(),
                    at,
                    ("sans-serif", 14).into_font(),
                )])
                .map_err(&e)?;
        }
        root.present().map_err(&e)?;
    }
    Ok((name.to_owned(), svg))
}

/// The latency CDF drawn as its tail, where policies differ: the share of
/// served requests slower than x (both axes log scale). The body of the
/// distribution is the service time and is the same for every policy.
pub fn latency_cdf(report: &Report, stats: &[Stats]) -> Result<Svg, PlotError> {
    let name = LATENCY_CDF;
    let e = err(name);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let top = stats
            .iter()
            .map(|s| s.latency_quantile_s(1.0))
            .fold(1.0, f64::max)
            * 1.5;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Latency CDF, tail view: share of served requests slower than x",
                ("sans-serif", 20),
            )
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((0.001..top).log_scale(), (0.0001..100.0).log_scale())
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc("latency (s, log scale)")
            .y_desc("requests slower (%, log scale)")
            .draw()
            .map_err(&e)?;
        for (i, (p, s)) in report.policies.iter().zip(stats).enumerate() {
            let points = cdf_points(s);
            if points.is_empty() {
                continue;
            }
            let c = color(i);
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(2)))
                .map_err(&e)?
                .label(p.name.clone())
                .legend(legend_line(c));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok((name.to_owned(), svg))
}

/// (latency s, % slower) at 100 even quantiles and through the far tail,
/// clipped at 1 ms and 0.0001%: enough for the eye, small enough to commit.
fn cdf_points(s: &Stats) -> Vec<(f64, f64)> {
    if s.latency_us.is_empty() {
        return Vec::new();
    }
    let mut qs: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
    qs.extend([0.995, 0.999, 0.9995, 0.9999, 0.99995, 0.99999, 0.999999]);
    qs.into_iter()
        .map(|q| {
            (
                s.latency_quantile_s(q).max(0.001),
                ((1.0 - q) * 100.0).max(0.0001),
            )
        })
        .collect()
}

/// Requests per bucket (shaded, right axis) and each policy's replicas.
pub fn timeline(report: &Report, tl: &ServerTimeline, k: usize) -> Result<Svg, PlotError> {
    let name = format!("{TIMELINE_PREFIX}{k}_{}.svg", tl.server);
    let Some(first) = tl.per_policy.first() else {
        return Ok((name, String::new()));
    };
    let h = first.bucket_s / 3600.0;
    let per_min = 60.0 / first.bucket_s;
    let at = |b: usize| b as f64 * h;
    let lines = report
        .policies
        .iter()
        .zip(&tl.per_policy)
        .map(|(p, t)| Steps {
            label: p.name.clone(),
            points: t
                .replicas
                .iter()
                .enumerate()
                .map(|(b, &r)| (at(b), f64::from(r)))
                .collect(),
        })
        .collect();
    let load = first
        .requests
        .iter()
        .enumerate()
        .map(|(b, &r)| (at(b), f64::from(r) * per_min))
        .collect();
    let svg = crate::plot::timeline(&crate::plot::Timeline {
        title: format!("{}: load and replicas over time", tl.server),
        x_desc: "hours".into(),
        y_desc: "replicas".into(),
        x_range: 0.0..at(first.requests.len()),
        lines,
        shade: Some(Shade {
            label: "requests per minute".into(),
            points: load,
        }),
        size: (1000, 600),
    })?;
    Ok((name, svg))
}
