//! The concurrency plot: confirm throughput and p99 latency against the number of clients, one
//! line per backend, as an SVG next to docs/benchmarks.md.

use crate::report::Point;
use plotters::prelude::*;

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// Draws throughput (left) and p99 (right) against clients to `path`.
pub fn concurrency(path: &str, points: &[Point]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (960, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(480);
    let mut series: Vec<&str> = Vec::new();
    for p in points {
        if !series.contains(&p.series.as_str()) {
            series.push(&p.series);
        }
    }
    let max_clients = points.iter().map(|p| p.clients).max().unwrap_or(1) as f64;
    type Metric = fn(&Point) -> f64;
    let panels: [(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, &str, &str, Metric); 2] = [
        (&left, "confirm throughput", "confirms/s", |p| p.throughput),
        (&right, "confirm p99 latency", "ms", |p| p.p99_ms),
    ];
    for (area, title, unit, metric) in panels {
        let top = points.iter().map(metric).fold(0.0_f64, f64::max) * 1.15 + 1.0;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d((1.0_f64..max_clients * 1.1).log_scale(), 0.0_f64..top)?;
        chart.configure_mesh().x_desc("clients").y_desc(unit).draw()?;
        for (i, name) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let line: Vec<(f64, f64)> =
                points.iter().filter(|p| p.series == *name).map(|p| (p.clients as f64, metric(p))).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(line.into_iter().map(|xy| Circle::new(xy, 3, color.filled())))?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}
