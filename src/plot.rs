//! SVG charts shared by the simulator's reports and the live view: a
//! timeline of replicas as step lines over a shaded load. SVG text needs no
//! fonts on the machine.

use plotters::prelude::*;

/// A chart that could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing {plot}: {message}")]
pub struct PlotError {
    /// Which chart.
    pub plot: String,
    /// Why.
    pub message: String,
}

/// Maps a drawing error of `plot` to a [`PlotError`].
pub fn err<E: std::fmt::Display>(plot: &str) -> impl Fn(E) -> PlotError + '_ {
    move |e| PlotError {
        plot: plot.to_owned(),
        message: e.to_string(),
    }
}

/// The `i`th colour of the palette.
pub fn color(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// A step function: `points` are (x, y) where y starts; the last step runs
/// to the chart's right edge.
pub struct Steps {
    /// The legend's label.
    pub label: String,
    /// Where each step starts, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A shaded step function on the right axis.
pub struct Shade {
    /// The legend's label (also the right axis' title).
    pub label: String,
    /// Where each step starts, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A timeline: replicas (left axis) as step lines over a shaded load
/// (right axis).
pub struct Timeline {
    /// The caption.
    pub title: String,
    /// The x axis' title.
    pub x_desc: String,
    /// The left axis' title.
    pub y_desc: String,
    /// The x axis' extent.
    pub x_range: std::ops::Range<f64>,
    /// Step lines on the left axis.
    pub lines: Vec<Steps>,
    /// The load, shaded, on the right axis.
    pub shade: Option<Shade>,
    /// Width and height in pixels.
    pub size: (u32, u32),
}

/// The corners of the steps that start at `points`, the last ending at
/// `x_end`.
fn corners(points: &[(f64, f64)], x_end: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &(x, y)) in points.iter().enumerate() {
        let next = points.get(i + 1).map_or(x_end, |p| p.0);
        out.push((x, y));
        out.push((next, y));
    }
    out
}

/// Room above the highest value, for the legend.
const HEADROOM: f64 = 1.45;

/// Draws `t` as SVG text.
pub fn timeline(t: &Timeline) -> Result<String, PlotError> {
    let e = err(&t.title);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, t.size).into_drawing_area();
        root.fill(&WHITE).map_err(&e)?;
        let top_of = |pts: &[(f64, f64)]| pts.iter().map(|p| p.1).fold(0.0, f64::max);
        let rep_max = t
            .lines
            .iter()
            .map(|l| top_of(&l.points))
            .fold(1.0, f64::max)
            * HEADROOM;
        let load_max = t.shade.as_ref().map_or(1.0, |s| top_of(&s.points).max(1.0)) * HEADROOM;
        let x = t.x_range.clone();
        if ![rep_max, load_max, x.start, x.end]
            .iter()
            .all(|v| v.is_finite())
            || x.start >= x.end
        {
            return Err(PlotError {
                plot: t.title.clone(),
                message: "an axis is not finite".into(),
            });
        }
        let mut chart = ChartBuilder::on(&root)
            .caption(&t.title, ("sans-serif", 22))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .right_y_label_area_size(70)
            .build_cartesian_2d(x.clone(), 0.0..rep_max)
            .map_err(&e)?
            .set_secondary_coord(x.clone(), 0.0..load_max);
        chart
            .configure_mesh()
            .x_desc(t.x_desc.as_str())
            .y_desc(t.y_desc.as_str())
            .draw()
            .map_err(&e)?;
        if let Some(shade) = &t.shade {
            let grey = RGBColor(200, 200, 200);
            chart
                .configure_secondary_axes()
                .y_desc(shade.label.as_str())
                .draw()
                .map_err(&e)?;
            chart
                .draw_secondary_series(AreaSeries::new(
                    corners(&shade.points, x.end),
                    0.0,
                    grey.mix(0.6),
                ))
                .map_err(&e)?
                .label(shade.label.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], grey.filled()));
        }
        for (i, line) in t.lines.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(
                    corners(&line.points, x.end),
                    c.stroke_width(2),
                ))
                .map_err(&e)?
                .label(line.label.clone())
                .legend(legend_line(c));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok(svg)
}

/// A short line in a series' colour, for the legend.
pub fn legend_line(c: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
}

/// The series legend, boxed, at `position`.
pub fn draw_legend<'a, DB, CT>(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(v: f64) -> Timeline {
        Timeline {
            title: "t".into(),
            x_desc: "x".into(),
            y_desc: "y".into(),
            x_range: -60.0..0.0,
            lines: vec![Steps {
                label: "a".into(),
                points: vec![(-30.0, v)],
            }],
            shade: None,
            size: (300, 200),
        }
    }

    #[test]
    fn huge_and_infinite_values_are_drawn_or_refused_never_looped_on() {
        assert!(timeline(&chart(1e12)).is_ok_and(|svg| svg.starts_with("<svg")));
        assert!(timeline(&chart(f64::INFINITY)).is_err());
        assert!(timeline(&chart(f64::NAN)).is_ok(), "NaN is not a maximum");
    }
}
