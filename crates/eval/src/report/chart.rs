//! A report's chart as SVG (plotters' SVG backend; text is left to the viewer's fonts): horizontal
//! bars, one group per category, subject or metric, on a 0-1 scale.

use std::path::Path;

use plotters::prelude::*;

use super::Report;
use crate::error::{Error, Result};

const BLUE: RGBColor = RGBColor(66, 110, 180);
const ORANGE: RGBColor = RGBColor(226, 130, 46);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// Up to this many subjects are drawn one by one; more are drawn as their categories.
const MOST_SUBJECT_BARS: usize = 12;

struct Bars {
    title: String,
    groups: Vec<String>,
    series: Vec<(&'static str, RGBColor)>,
    /// `[group][series]`; `None`: no bar.
    values: Vec<Vec<Option<f64>>>,
    /// A vertical line (chance).
    marker: Option<(f64, &'static str)>,
}

pub fn write(path: &Path, report: &Report) -> Result<()> {
    let bars = match report {
        Report::Mcq(r) => {
            let mut groups = vec![("all questions".to_string(), r.accuracy)];
            if r.subjects.len() <= MOST_SUBJECT_BARS {
                groups.extend(
                    r.subjects
                        .iter()
                        .map(|s| (s.subject.replace('_', " "), s.accuracy)),
                );
            } else {
                groups.extend(
                    r.categories
                        .iter()
                        .map(|c| (c.category.clone(), c.accuracy)),
                );
            }
            Bars {
                title: format!("{} {}-shot accuracy, {}", r.benchmark, r.shots, r.model),
                groups: groups.iter().map(|(g, _)| g.clone()).collect(),
                series: vec![("accuracy", BLUE)],
                values: groups.iter().map(|(_, v)| vec![Some(*v)]).collect(),
                marker: Some((r.chance, "chance")),
            }
        }
        Report::Qa(r) => {
            let (w, o) = (&r.with_retrieval, &r.without_retrieval);
            let rows: Vec<(&str, Option<f64>, Option<f64>)> = vec![
                ("exact match", Some(o.exact_match), Some(w.exact_match)),
                ("F1", Some(o.f1), Some(w.f1)),
                (
                    "answer holds a gold answer",
                    Some(o.contains_answer),
                    Some(w.contains_answer),
                ),
                ("gold document retrieved", None, w.retrieval_hit_rate),
                ("cited passages hold it", None, w.citation_precision),
                ("evidence holds it", None, w.evidence_holds_answer),
            ];
            Bars {
                title: format!("With and without retrieval, {}", r.model),
                groups: rows.iter().map(|(g, _, _)| g.to_string()).collect(),
                series: vec![("without retrieval", GREY), ("with retrieval", ORANGE)],
                values: rows.iter().map(|(_, a, b)| vec![*a, *b]).collect(),
                marker: None,
            }
        }
    };
    draw(path, &bars).map_err(|e| Error::Chart {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn draw(path: &Path, bars: &Bars) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let n = bars.groups.len();
    let per_group = 14 * bars.series.len() as u32 + 10;
    let height = 110 + per_group * n as u32;
    let root = SVGBackend::new(path, (760, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&bars.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(190)
        .build_cartesian_2d(0f64..1.1f64, 0f64..n as f64)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(0)
        .x_labels(11)
        .x_label_formatter(&|x| format!("{x:.1}"))
        .draw()?;

    let series = bars.series.len() as f64;
    let slot = 0.8 / series;
    for (j, (name, color)) in bars.series.iter().enumerate() {
        let rects = bars.values.iter().enumerate().filter_map(|(i, row)| {
            let value = row[j]?;
            let top = (n - i) as f64 - 0.1 - j as f64 * slot;
            Some(Rectangle::new(
                [(0.0, top - slot), (value, top)],
                color.filled(),
            ))
        });
        chart
            .draw_series(rects)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
        let labels = bars.values.iter().enumerate().filter_map(|(i, row)| {
            let value = row[j]?;
            let middle = (n - i) as f64 - 0.1 - (j as f64 + 0.5) * slot;
            Some(Text::new(
                format!("{value:.3}"),
                (value + 0.01, middle),
                ("sans-serif", 11),
            ))
        });
        chart.draw_series(labels)?;
    }
    if let Some((x, name)) = bars.marker {
        chart
            .draw_series(LineSeries::new(
                [(x, 0.0), (x, n as f64)],
                GREY.stroke_width(2),
            ))?
            .label(format!("{name} ({x})"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], GREY.stroke_width(2)));
    }
    // Group names to the left of the plot, at the middle of each group.
    for (i, group) in bars.groups.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, (n - i) as f64 - 0.5));
        let style =
            TextStyle::from(("sans-serif", 12)).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Right,
                plotters::style::text_anchor::VPos::Center,
            ));
        root.draw(&Text::new(group.clone(), (x - 8, y), style))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
