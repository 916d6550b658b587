//! SVG plots of a report: cost against SLO violations, latency CDFs, and
//! load and replicas over time for a few servers. SVG text needs no fonts
//! on the machine.

use super::report::Report;
use super::run::ServerTimeline;
use super::stats::Stats;
use plotters::prelude::*;

/// A plot that could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing {plot}: {message}")]
pub struct PlotError {
    /// Which plot.
    pub plot: String,
    /// Why.
    pub message: String,
}

type Svg = (String, String);

fn err<E: std::fmt::Display>(plot: &str) -> impl Fn(E) -> PlotError + '_ {
    move |e| PlotError {
        plot: plot.to_owned(),
        message: e.to_string(),
    }
}

fn color(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// Every plot as (file name, SVG text).
pub fn all(
    report: &Report,
    stats: &[Stats],
    timelines: &[ServerTimeline],
) -> Result<Vec<Svg>, PlotError> {
    let mut out = vec![cost_vs_slo(report)?, latency_cdf(report, stats)?];
    for (k, tl) in timelines.iter().enumerate() {
        out.push(timeline(report, tl, k)?);
    }
    Ok(out)
}

/// Replica-hours (x) against SLO violation % (y), one labelled point per policy.
pub fn cost_vs_slo(report: &Report) -> Result<Svg, PlotError> {
    let name = "cost_vs_slo.svg";
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
    let name = "latency_cdf.svg";
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

/// Requests per bucket (grey bars, right axis) and each policy's replicas.
pub fn timeline(report: &Report, tl: &ServerTimeline, k: usize) -> Result<Svg, PlotError> {
    let name = format!("timeline_{k}_{}.svg", tl.server);
    let Some(first) = tl.per_policy.first() else {
        return Ok((name, String::new()));
    };
    let mut svg = String::new();
    {
        let e = err(&name);
        let root = SVGBackend::with_string(&mut svg, (1000, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let hours = first.bucket_s * first.requests.len() as f64 / 3600.0;
        let per_min = 60.0 / first.bucket_s;
        let load_max = first
            .requests
            .iter()
            .map(|&r| f64::from(r) * per_min)
            .fold(1.0, f64::max)
            * 1.1;
        let rep_max = tl
            .per_policy
            .iter()
            .flat_map(|t| t.replicas.iter().copied())
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.2;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{}: load and replicas over time", tl.server),
                ("sans-serif", 22),
            )
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0.0..hours, 0.0..rep_max)
            .map_err(&e)?
            .set_secondary_coord(0.0..hours, 0.0..load_max);
        chart
            .configure_mesh()
            .x_desc("hours")
            .y_desc("replicas")
            .draw()
            .map_err(&e)?;
        chart
            .configure_secondary_axes()
            .y_desc("requests per minute")
            .draw()
            .map_err(&e)?;
        let h = first.bucket_s / 3600.0;
        let load = first
            .requests
            .iter()
            .enumerate()
            .map(|(b, &r)| (b as f64 * h, f64::from(r) * per_min));
        chart
            .draw_secondary_series(AreaSeries::new(load, 0.0, RGBColor(200, 200, 200).mix(0.6)))
            .map_err(&e)?
            .label("requests/min")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 20, y + 5)],
                    RGBColor(200, 200, 200).filled(),
                )
            });
        for (i, (p, t)) in report.policies.iter().zip(&tl.per_policy).enumerate() {
            let c = color(i);
            let steps = t.replicas.iter().enumerate().flat_map(|(b, &r)| {
                [
                    (b as f64 * h, f64::from(r)),
                    ((b + 1) as f64 * h, f64::from(r)),
                ]
            });
            chart
                .draw_series(LineSeries::new(steps, c.stroke_width(2)))
                .map_err(&e)?
                .label(p.name.clone())
                .legend(legend_line(c));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok((name, svg))
}

/// A short line in a policy's colour, for the legend.
fn legend_line(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
}

/// The series legend, boxed, at `position`.
fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()
}
