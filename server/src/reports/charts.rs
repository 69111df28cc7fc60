//! SVG charts for the report pages, drawn on the server with plotters (its SVG backend
//! only: no fonts are loaded; the browser draws the text). Each chart is an `<svg>`
//! with `role="img"` and a label; the page puts a table of the same figures beside it.

use plotters::prelude::*;

/// Chart size in SVG units (it scales to the page's width).
const SIZE: (u32, u32) = (640, 320);
/// Series colours (dark enough on white for text-contrast rules).
pub const COLOURS: [RGBColor; 3] = [RGBColor(0x1f, 0x4e, 0x79), RGBColor(0xa3, 0x4a, 0x00), RGBColor(0x8b, 0x1a, 0x4a)];

fn accessible(svg: String, label: &str) -> String {
    let label = label.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;");
    svg.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{label}\" class=\"chart\" "), 1)
}

fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        1.0
    } else if max < 8.0 {
        max.ceil() + 1.0
    } else {
        max * 1.1
    }
}

/// Whole numbers only (counts: no tick at 0.5), or one decimal.
fn tick(v: f64, whole: bool) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if whole {
        String::new()
    } else {
        format!("{v:.1}")
    }
}

/// A bar chart of labelled values.
/// `whole`: the values are counts (no fractional ticks).
pub fn bars(title: &str, x_desc: &str, y_desc: &str, items: &[(String, f64)], whole: bool) -> String {
    let mut buf = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        // `0..k` has k + 1 segments.
        let n = (items.len() as u32).saturating_sub(1).max(1);
        let max = nice_max(items.iter().map(|i| i.1).fold(0.0, f64::max));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((0u32..n).into_segmented(), 0f64..max)?;
        // Every `step`-th label (the last one always), so that labels never touch.
        let step = label_step(items.iter().map(|i| short(&i.0)), items.len());
        let last = items.len().saturating_sub(1);
        let label = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if (last - (*i as usize).min(last)).is_multiple_of(step) => {
                items.get(*i as usize).map(|x| short(&x.0)).unwrap_or_default()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(items.len().max(1))
            .x_label_formatter(&label)
            .y_labels(if max <= 10.0 { max as usize + 1 } else { 10 })
            .y_label_formatter(&|v| tick(*v, whole))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()?;
        chart.draw_series(
            Histogram::vertical(&chart)
                .style(COLOURS[0].filled())
                .margin(6)
                .data(items.iter().enumerate().map(|(i, x)| (i as u32, x.1))),
        )?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = drawn {
        tracing::warn!(error = %e, "chart not drawn");
    }
    accessible(buf, title)
}

/// Lines over days: one series per (name, values), values aligned with `days`.
pub fn lines(title: &str, x_desc: &str, y_desc: &str, days: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let mut buf = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut buf, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let last = days.len().saturating_sub(1).max(1) as i32;
        let max = nice_max(series.iter().flat_map(|s| s.1.iter().copied()).fold(0.0, f64::max));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0i32..last, 0f64..max)?;
        let label = |i: &i32| days.get(*i as usize).map(|d| d.get(5..).unwrap_or(d).to_owned()).unwrap_or_default();
        chart
            .configure_mesh()
            .x_labels(days.len().clamp(2, 8))
            .x_label_formatter(&label)
            .y_labels(if max <= 10.0 { max as usize + 1 } else { 10 })
            .y_label_formatter(&|v| tick(*v, true))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()?;
        for (k, (name, values)) in series.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    values.iter().enumerate().map(|(i, v)| (i as i32, *v)),
                    colour.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    if let Err(e) = drawn {
        tracing::warn!(error = %e, "chart not drawn");
    }
    accessible(buf, title)
}

/// Plot width in SVG units left for the bars (the chart less margins and the y labels).
const PLOT_WIDTH: f64 = (SIZE.0 - 2 * 12 - 64) as f64;
/// A 13-unit sans-serif character is about this wide, and labels need this gap.
const CHAR_WIDTH: f64 = 7.5;
const LABEL_GAP: f64 = 10.0;

/// Label every how many bars so that `labels` (of `n` bars) never touch.
fn label_step(labels: impl Iterator<Item = String>, n: usize) -> usize {
    let widest = labels.map(|l| l.chars().count()).max().unwrap_or(0) as f64 * CHAR_WIDTH + LABEL_GAP;
    let fit = (PLOT_WIDTH / widest).floor().max(1.0) as usize;
    n.div_ceil(fit).max(1)
}

fn short(s: &str) -> String {
    let s = s.replace('_', " ");
    if s.chars().count() > 14 { format!("{}…", s.chars().take(13).collect::<String>()) } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_labels_never_touch() {
        // Fifteen months (the financial report's default range) were labelled edge to edge.
        let months: Vec<(String, f64)> =
            (0..15).map(|i| (format!("{}-{:02}", 2025 + i / 12, i % 12 + 1), 1.0)).collect();
        let step = label_step(months.iter().map(|m| short(&m.0)), months.len());
        assert!(step >= 2, "{step}");
        let shown = months.len().div_ceil(step);
        assert!(shown as f64 * (7.0 * CHAR_WIDTH + LABEL_GAP) <= PLOT_WIDTH, "{shown} labels fit");
        let svg = bars("t", "x", "y", &months, false);
        let labelled = months.iter().filter(|m| svg.contains(m.0.as_str())).count();
        assert!(labelled <= shown && labelled >= shown - 1, "{labelled} of {shown}");
        assert!(svg.contains("2026-03"), "the last month is labelled");
        // Few bars: every one labelled.
        assert_eq!(label_step(["Laptops".to_owned(), "Phones".to_owned()].into_iter(), 2), 1);
    }

    #[test]
    fn charts_are_labelled_svg_with_titles_axes_and_values() {
        let b = bars(
            "Tickets by category",
            "Category",
            "Tickets",
            &[("laptop".into(), 3.0), ("printer".into(), 5.0)],
            true,
        );
        assert!(b.starts_with("<svg role=\"img\" aria-label=\"Tickets by category\""), "{b}");
        for text in ["Tickets by category", "Category", "Tickets", "laptop", "printer"] {
            assert!(b.contains(&format!(">{text}<")) || b.contains(text), "{text} missing");
        }
        assert!(!b.contains("style="), "inline styles are refused by the pages' CSP");
        let days: Vec<String> = (1..=5).map(|d| format!("2026-11-0{d}")).collect();
        let l = lines("Volume", "Day", "Tickets", &days, &[("raised", vec![1.0, 2.0, 3.0, 2.0, 1.0])]);
        assert!(l.contains("<polyline") || l.contains("<path"), "{l}");
        assert!(l.contains("raised"));
        assert_ne!(l, lines("Volume", "Day", "Tickets", &days, &[("raised", vec![1.0, 2.0, 9.0, 2.0, 1.0])]));
    }
}
