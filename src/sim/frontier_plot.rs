//! `frontier.svg`: cold starts (y) against replica-hours (x), one line
//! through the fixed windows, one through the cost-aware prices, each point
//! labelled, and the oracle marked.

use super::frontier::{Frontier, Point};
use crate::plot::{PlotError, color, draw_legend, err, legend_line};
use plotters::prelude::*;

/// The frontier chart's file.
pub const FRONTIER: &str = "frontier.svg";

/// The frontier chart as (file name, SVG text).
pub fn frontier(f: &Frontier) -> Result<(String, String), PlotError> {
    let name = FRONTIER;
    let e = err(name);
    let all: Vec<&Point> = f
        .fixed
        .iter()
        .chain(&f.cost_aware)
        .chain(&f.oracle)
        .collect();
    let xmax = all.iter().map(|p| p.replica_hours).fold(1.0, f64::max) * 1.1;
    let ymax = all.iter().map(|p| p.cold_starts as f64).fold(1.0, f64::max) * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 650)).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Cold starts vs replica-hours (lower left is better)",
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
            .y_desc("cold starts")
            .draw()
            .map_err(&e)?;
        for (i, (label, points, prefix)) in [
            ("fixed keep-alive window", &f.fixed, "keep-alive-"),
            (
                "cost-aware, price per cold start",
                &f.cost_aware,
                "cost-aware-",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let c = color(i);
            let xy: Vec<(f64, f64)> = points
                .iter()
                .map(|p| (p.replica_hours, p.cold_starts as f64))
                .collect();
            chart
                .draw_series(LineSeries::new(xy.clone(), c.stroke_width(2)))
                .map_err(&e)?
                .label(label)
                .legend(legend_line(c));
            chart
                .draw_series(xy.iter().map(|&at| Circle::new(at, 5, c.filled())))
                .map_err(&e)?;
            chart
                .draw_series(points.iter().map(|p| {
                    let short = p.name.trim_start_matches(prefix).to_owned();
                    Text::new(
                        short,
                        (p.replica_hours, p.cold_starts as f64),
                        ("sans-serif", 14).into_font().color(&c),
                    )
                }))
                .map_err(&e)?;
        }
        if let Some(o) = &f.oracle {
            let at = (o.replica_hours, o.cold_starts as f64);
            let c = BLACK;
            chart
                .draw_series([Cross::new(at, 9, c.stroke_width(3))])
                .map_err(&e)?
                .label("oracle (knows every next arrival)")
                .legend(legend_line(c));
            chart
                .draw_series([Text::new(
                    "oracle".to_owned(),
                    at,
                    ("sans-serif", 15).into_font().color(&c),
                )])
                .map_err(&e)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok((name.to_owned(), svg))
}
