//! A small hand-written SVG grouped bar chart: one group per configuration, one bar per
//! target, a whisker for the min–max spread, and optional reference lines (a machine limit).

use std::fmt::Write;

/// One bar: median with min and max; `None` draws "n/a".
pub(crate) type Bar = Option<(f64, f64, f64)>;

/// A chart to draw.
pub(crate) struct Chart<'a> {
    /// Title at the top.
    pub(crate) title: &'a str,
    /// Label of the value axis.
    pub(crate) unit: &'a str,
    /// Group labels along the x axis.
    pub(crate) groups: &'a [String],
    /// Series (legend) labels.
    pub(crate) series: &'a [String],
    /// `values[group][series]`.
    pub(crate) values: &'a [Vec<Bar>],
    /// Horizontal reference lines: value and label.
    pub(crate) lines: &'a [(f64, String)],
    /// Logarithmic value axis (for latencies spanning decades).
    pub(crate) log: bool,
}

const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Short number for labels: 1234567 → "1.23M".
pub(crate) fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Chart<'_> {
    /// The SVG document.
    pub(crate) fn render(&self) -> String {
        let (width, height) = (860.0_f64, 420.0_f64);
        let (left, right, top, bottom) = (70.0, 190.0, 40.0, 50.0);
        let plot_w = width - left - right;
        let plot_h = height - top - bottom;
        let mut max = self
            .values
            .iter()
            .flatten()
            .flatten()
            .map(|b| b.2.max(b.0))
            .chain(self.lines.iter().map(|l| l.0))
            .fold(0.0_f64, f64::max);
        let mut min_positive = self
            .values
            .iter()
            .flatten()
            .flatten()
            .map(|b| b.1.min(b.0))
            .chain(self.lines.iter().map(|l| l.0))
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        if max <= 0.0 {
            max = 1.0;
        }
        if !min_positive.is_finite() {
            min_positive = max / 10.0;
        }
        // Value → y pixel.
        let (lo, hi) = if self.log {
            (
                min_positive.log10().floor(),
                (max * 1.05)
                    .log10()
                    .ceil()
                    .max(min_positive.log10().floor() + 1.0),
            )
        } else {
            (0.0, max * 1.1)
        };
        let y = |v: f64| -> f64 {
            let t = if self.log {
                (v.max(10_f64.powf(lo)).log10() - lo) / (hi - lo)
            } else {
                v / hi
            };
            top + plot_h * (1.0 - t.clamp(0.0, 1.0))
        };
        let mut s = String::new();
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
"##,
            left + plot_w / 2.0,
            escape(self.title)
        );
        // Grid and ticks.
        let ticks: Vec<f64> = if self.log {
            let (a, b) = (lo as i32, hi as i32);
            (a..=b).map(|e| 10_f64.powi(e)).collect()
        } else {
            (0..=5).map(|i| hi * f64::from(i) / 5.0).collect()
        };
        for t in ticks {
            let ty = y(t);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                left + plot_w,
                left - 6.0,
                ty + 4.0,
                short(t)
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">{}</text>"##,
            top + plot_h / 2.0,
            top + plot_h / 2.0,
            escape(self.unit)
        );
        // Bars.
        let groups = self.groups.len().max(1) as f64;
        let series = self.series.len().max(1) as f64;
        let group_w = plot_w / groups;
        let bar_w = group_w * 0.8 / series;
        for (g, label) in self.groups.iter().enumerate() {
            let gx = left + group_w * g as f64 + group_w * 0.1;
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                gx + group_w * 0.4,
                top + plot_h + 18.0,
                escape(label)
            );
            for (i, color) in (0..self.series.len()).zip(COLORS.iter().cycle()) {
                let bx = gx + bar_w * i as f64;
                let bar = self.values.get(g).and_then(|v| v.get(i)).copied().flatten();
                match bar {
                    Some((median, min, max)) => {
                        let (y0, y1) = (y(median), y(if self.log { 10_f64.powf(lo) } else { 0.0 }));
                        let _ = writeln!(
                            s,
                            r##"<rect x="{bx:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{}: {}</title></rect>"##,
                            bar_w * 0.9,
                            (y1 - y0).max(0.0),
                            escape(&self.series[i]),
                            short(median)
                        );
                        let cx = bx + bar_w * 0.45;
                        let _ = writeln!(
                            s,
                            r##"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="black"/>"##,
                            y(min),
                            y(max)
                        );
                        let _ = writeln!(
                            s,
                            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"##,
                            y(max) - 3.0,
                            short(median)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9" fill="#888">n/a</text>"##,
                            bx + bar_w * 0.45,
                            top + plot_h - 4.0
                        );
                    }
                }
            }
        }
        // Reference lines, labelled inside the plot just above the line (the legend keeps the
        // right margin).
        for (i, (value, label)) in self.lines.iter().enumerate() {
            let ly = y(*value);
            let _ = writeln!(
                s,
                r##"<line x1="{left}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="#d62728" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" font-size="10" fill="#d62728">{}</text>"##,
                left + plot_w,
                left + 4.0 + 180.0 * i as f64,
                ly - 4.0,
                escape(label)
            );
        }
        // Legend.
        for (i, (name, color)) in self.series.iter().zip(COLORS.iter().cycle()).enumerate() {
            let ly = top + 10.0 + 18.0 * i as f64;
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"##,
                left + plot_w + 10.0,
                ly,
                left + plot_w + 28.0,
                ly + 10.0,
                escape(name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_keep_three_figures() {
        assert_eq!(short(1_234_567.0), "1.23M");
        assert_eq!(short(45_600.0), "46k");
        assert_eq!(short(1_500.0), "1.5k");
        assert_eq!(short(12.0), "12");
        assert_eq!(short(0.372), "0.37");
    }

    #[test]
    fn a_chart_draws_one_bar_per_value_and_escapes_labels() {
        let groups = vec!["1 partition, 100 B".to_owned(), "8 partitions".to_owned()];
        let series = vec!["a<b".to_owned(), "c".to_owned()];
        let values = vec![
            vec![Some((2.0, 1.0, 3.0)), None],
            vec![Some((5.0, 5.0, 5.0)), Some((1.0, 0.5, 1.5))],
        ];
        let lines = vec![(4.0, "limit".to_owned())];
        for log in [false, true] {
            let svg = Chart {
                title: "t & u",
                unit: "MB/s",
                groups: &groups,
                series: &series,
                values: &values,
                lines: &lines,
                log,
            }
            .render();
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
            // Three bars (with tooltips) plus two legend swatches.
            assert_eq!(svg.matches("<title>").count(), 3);
            assert_eq!(svg.matches("n/a").count(), 1);
            assert!(svg.contains("a&lt;b") && svg.contains("t &amp; u"));
            assert!(!svg.contains("NaN"));
        }
    }
}
