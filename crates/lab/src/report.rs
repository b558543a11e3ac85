//! Reports: the terminal table, the JSON file with every figure, and the SVG chart.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::cell::CellResult;
use crate::model::{Fault, Semantics};

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The verdict for one cell against its semantics' promise: `ok`, or what broke it.
pub fn verdict(cell: &CellResult) -> &'static str {
    let lost = cell.lost_count > 0;
    let duplicated = cell.duplicate_count > 0;
    let broken = match cell.semantics {
        Semantics::AtMostOnce => duplicated,
        Semantics::AtLeastOnce => lost,
        Semantics::ExactlyOnce | Semantics::ExactlyOnceTransform => {
            lost || duplicated || cell.ledger_total != cell.expected_total
        }
    };
    if broken || cell.foreign_rows > 0 {
        "BROKEN"
    } else if !cell.fault_injected {
        "NOT INJECTED"
    } else if cell.fault == Fault::None && (lost || duplicated) {
        "UNEXPECTED"
    } else {
        "ok"
    }
}

/// The matrix as a fixed-width text table.
pub fn table(cells: &[CellResult]) -> String {
    let header = [
        "semantics",
        "fault",
        "delivered",
        "dups",
        "loss_rate",
        "p50_ms",
        "p99_ms",
        "rps",
        "ledger/expected",
        "can lose",
        "can dup",
        "verdict",
    ];
    let rows: Vec<[String; 12]> = cells
        .iter()
        .map(|c| {
            [
                c.semantics.to_string(),
                c.fault.to_string(),
                format!("{}/{}", c.delivered, c.messages),
                c.duplicate_count.to_string(),
                format!("{:.4}", c.message_loss_rate),
                format!("{:.1}", c.latency_p50_ms),
                format!("{:.1}", c.latency_p99_ms),
                format!("{:.0}", c.throughput_rps),
                format!(
                    "{}.{:02}/{}.{:02}",
                    c.ledger_total / 100,
                    c.ledger_total % 100,
                    c.expected_total / 100,
                    c.expected_total % 100
                ),
                yes_no(c.exposure.can_lose).to_owned(),
                yes_no(c.exposure.can_duplicate).to_owned(),
                verdict(c).to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            // Text columns left, figures right.
            if !(2..9).contains(&i) {
                let _ = write!(text, "{cell:<w$}  ");
            } else {
                let _ = write!(text, "{cell:>w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, &header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(
        &mut out,
        &rule.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for row in &rows {
        line(
            &mut out,
            &row.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    out
}

/// The notes of every cell (faults injected, recoveries), for below the table.
pub fn notes(cells: &[CellResult]) -> String {
    let mut out = String::new();
    for c in cells {
        for note in &c.notes {
            let _ = writeln!(out, "{} × {}: {note}", c.semantics, c.fault);
        }
        if c.dedup_skipped > 0 {
            let _ = writeln!(
                out,
                "{} × {}: the dedup store refused {} redeliveries",
                c.semantics, c.fault, c.dedup_skipped
            );
        }
    }
    out
}

/// Every figure of every cell as JSON.
pub fn json(cells: &[CellResult], run: Value) -> Value {
    let cells: Vec<Value> = cells
        .iter()
        .map(|c| {
            json!({
                "semantics": c.semantics.name(),
                "fault": c.fault.name(),
                "can_lose": c.exposure.can_lose,
                "can_duplicate": c.exposure.can_duplicate,
                "messages": c.messages,
                "ledger_rows": c.ledger_rows,
                "delivered": c.delivered,
                "duplicate_count": c.duplicate_count,
                "lost_count": c.lost_count,
                "message_loss_rate": c.message_loss_rate,
                "foreign_rows": c.foreign_rows,
                "processing_latency_ms": { "p50": c.latency_p50_ms, "p99": c.latency_p99_ms },
                "throughput_rps": c.throughput_rps,
                "ledger_total_cents": c.ledger_total,
                "expected_total_cents": c.expected_total,
                "dedup_skipped": c.dedup_skipped,
                "consumed": c.consumed,
                "sent": c.sent,
                "elapsed_s": c.elapsed_s,
                "fault_injected": c.fault_injected,
                "verdict": verdict(c),
                "notes": c.notes,
            })
        })
        .collect();
    json!({ "run": run, "cells": cells })
}

const COLORS: [&str; 4] = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1"];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One bar chart panel: groups along x, one bar per series in each group.
struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    groups: Vec<String>,
    series: Vec<&'a str>,
    /// values[group][series]
    values: Vec<Vec<f64>>,
}

fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if max <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn panel(svg: &mut String, p: &Panel<'_>, x: f64, y: f64, w: f64, h: f64) {
    let (left, top, bottom) = (56.0, 28.0, 52.0);
    let (plot_w, plot_h) = (w - left - 10.0, h - top - bottom);
    let max = nice_max(p.values.iter().flatten().copied().fold(0.0, f64::max));
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="14" font-weight="bold">{}</text>"#,
        x + left,
        y + 16.0,
        escape(p.title)
    );
    for tick in 0..=4 {
        let value = max * f64::from(tick) / 4.0;
        let ty = y + top + plot_h - plot_h * f64::from(tick) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            x + left,
            x + left + plot_w,
            x + left - 4.0,
            ty + 3.0,
            format_tick(value)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" font-size="10" transform="rotate(-90 {:.1} {:.1})" text-anchor="middle">{}</text>"#,
        x + 12.0,
        y + top + plot_h / 2.0,
        x + 12.0,
        y + top + plot_h / 2.0,
        escape(p.unit)
    );
    let group_w = plot_w / p.groups.len().max(1) as f64;
    let bar_w = (group_w * 0.8) / p.series.len().max(1) as f64;
    for (g, name) in p.groups.iter().enumerate() {
        let gx = x + left + group_w * g as f64 + group_w * 0.1;
        for (s, value) in p.values.get(g).into_iter().flatten().enumerate() {
            let bh = if max > 0.0 { plot_h * value / max } else { 0.0 };
            let bx = gx + bar_w * s as f64;
            let by = y + top + plot_h - bh;
            let _ = writeln!(
                svg,
                r#"<rect x="{bx:.1}" y="{by:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{} {}: {}</title></rect>"#,
                (bar_w - 1.0).max(1.0),
                COLORS[s % COLORS.len()],
                escape(name),
                escape(p.series.get(s).copied().unwrap_or("")),
                format_tick(*value)
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
                bx + bar_w / 2.0,
                by - 2.0,
                format_tick(*value)
            );
        }
        // Many groups: labels on two staggered lines so long names do not collide.
        let stagger = if p.groups.len() > 3 && g % 2 == 1 {
            12.0
        } else {
            0.0
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
            gx + group_w * 0.4,
            y + top + plot_h + 14.0 + stagger,
            escape(name)
        );
    }
    for (s, name) in p.series.iter().enumerate() {
        let spacing = (plot_w / p.series.len().max(1) as f64).min(130.0);
        let lx = x + left + spacing * s as f64;
        let ly = y + h - 10.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{lx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{ly:.1}" font-size="9">{}</text>"#,
            ly - 9.0,
            COLORS[s % COLORS.len()],
            lx + 14.0,
            escape(name)
        );
    }
}

fn format_tick(value: f64) -> String {
    if value >= 100.0 || value == value.trunc() {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The chart: throughput and latency per semantics (fault-free cells), losses and
/// duplicates per fault (one bar per semantics). Hand-written SVG, no scripts.
pub fn svg(cells: &[CellResult]) -> String {
    let semantics: Vec<Semantics> = Semantics::ALL
        .into_iter()
        .filter(|s| cells.iter().any(|c| c.semantics == *s))
        .collect();
    let faults: Vec<Fault> = Fault::ALL
        .into_iter()
        .filter(|f| cells.iter().any(|c| c.fault == *f))
        .collect();
    let find = |s: Semantics, f: Fault| cells.iter().find(|c| c.semantics == s && c.fault == f);
    // Per semantics: its fault-free cell if there is one, else the mean of its cells.
    let per_semantics = |s: Semantics, figure: &dyn Fn(&CellResult) -> f64| -> f64 {
        if let Some(c) = find(s, Fault::None) {
            return figure(c);
        }
        let own: Vec<f64> = cells
            .iter()
            .filter(|c| c.semantics == s)
            .map(figure)
            .collect();
        own.iter().sum::<f64>() / own.len().max(1) as f64
    };
    // Per fault: one bar per semantics.
    let per_fault = |title, unit, figure: &dyn Fn(&CellResult) -> f64| Panel {
        title,
        unit,
        groups: faults.iter().map(|f| f.to_string()).collect(),
        series: semantics.iter().map(|s| s.name()).collect(),
        values: faults
            .iter()
            .map(|&f| {
                semantics
                    .iter()
                    .map(|&s| find(s, f).map_or(0.0, figure))
                    .collect()
            })
            .collect(),
    };
    let names: Vec<String> = semantics.iter().map(|s| s.to_string()).collect();
    let panels = [
        Panel {
            title: "Throughput per semantics (no fault)",
            unit: "ledger rows / s",
            groups: names.clone(),
            series: vec!["throughput"],
            values: semantics
                .iter()
                .map(|&s| vec![per_semantics(s, &|c| c.throughput_rps)])
                .collect(),
        },
        Panel {
            title: "Latency, produce → ledger (no fault)",
            unit: "ms",
            groups: names,
            series: vec!["p50", "p99"],
            values: semantics
                .iter()
                .map(|&s| {
                    vec![
                        per_semantics(s, &|c| c.latency_p50_ms),
                        per_semantics(s, &|c| c.latency_p99_ms),
                    ]
                })
                .collect(),
        },
        per_fault("Lost messages per fault", "messages never charged", &|c| {
            c.lost_count as f64
        }),
        per_fault("Duplicate charges per fault", "extra charges", &|c| {
            c.duplicate_count as f64
        }),
    ];
    let (w, h) = (900.0, 560.0);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (i, p) in panels.iter().enumerate() {
        let (col, row) = ((i % 2) as f64, (i / 2) as f64);
        panel(&mut svg, p, col * w / 2.0, row * h / 2.0, w / 2.0, h / 2.0);
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::exposure;

    fn cell(semantics: Semantics, fault: Fault, lost: u64, duplicates: u64) -> CellResult {
        let messages = 100;
        CellResult {
            semantics,
            fault,
            exposure: exposure(semantics, fault),
            messages,
            ledger_rows: messages - lost + duplicates,
            delivered: messages - lost,
            duplicate_count: duplicates,
            lost_count: lost,
            message_loss_rate: lost as f64 / messages as f64,
            foreign_rows: 0,
            latency_p50_ms: 3.5,
            latency_p99_ms: 12.0,
            throughput_rps: 2500.0,
            ledger_total: 500 * (messages - lost + duplicates) as i64,
            expected_total: 500 * messages as i64,
            dedup_skipped: 0,
            consumed: messages,
            sent: messages,
            elapsed_s: 1.0,
            notes: vec!["a <note> & more".to_owned()],
            fault_injected: true,
        }
    }

    #[test]
    fn verdict_names_each_broken_promise() {
        use Fault::{BrokerKill, None as NoFault};
        use Semantics::{AtLeastOnce, AtMostOnce, ExactlyOnce};
        assert_eq!(verdict(&cell(AtMostOnce, BrokerKill, 5, 0)), "ok");
        assert_eq!(verdict(&cell(AtMostOnce, BrokerKill, 0, 1)), "BROKEN");
        assert_eq!(verdict(&cell(AtLeastOnce, BrokerKill, 0, 5)), "ok");
        assert_eq!(verdict(&cell(AtLeastOnce, BrokerKill, 1, 0)), "BROKEN");
        assert_eq!(verdict(&cell(ExactlyOnce, BrokerKill, 0, 0)), "ok");
        assert_eq!(verdict(&cell(ExactlyOnce, BrokerKill, 0, 1)), "BROKEN");
        let mut wrong_total = cell(ExactlyOnce, BrokerKill, 0, 0);
        wrong_total.ledger_total += 1;
        assert_eq!(verdict(&wrong_total), "BROKEN");
        assert_eq!(verdict(&cell(AtMostOnce, NoFault, 1, 0)), "UNEXPECTED");
        let mut not_injected = cell(AtLeastOnce, BrokerKill, 0, 0);
        not_injected.fault_injected = false;
        assert_eq!(verdict(&not_injected), "NOT INJECTED");
    }

    #[test]
    fn table_has_a_header_a_rule_and_one_aligned_row_per_cell() {
        let cells = [
            cell(Semantics::AtMostOnce, Fault::None, 0, 0),
            cell(Semantics::ExactlyOnce, Fault::ConsumerCrash, 0, 0),
        ];
        let text = table(&cells);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("semantics"));
        assert!(lines[1].starts_with("---"));
        assert!(lines[3].starts_with("exactly-once  consumer-crash"));
        assert!(lines[2].contains("100/100") && lines[2].contains("500.00/500.00"));
        // Every column starts at the same place on every line.
        let column = lines[0].find("verdict").unwrap();
        assert_eq!(lines[2].find("ok"), Some(column));
    }

    #[test]
    fn json_holds_every_figure_of_every_cell() {
        let cells = [cell(Semantics::AtLeastOnce, Fault::LostAcks, 0, 7)];
        let value = json(&cells, json!({"messages_per_cell": 100}));
        let c = &value["cells"][0];
        assert_eq!(c["semantics"], "at-least-once");
        assert_eq!(c["fault"], "lost-acks");
        assert_eq!(c["duplicate_count"], 7);
        assert_eq!(c["message_loss_rate"], 0.0);
        assert_eq!(c["processing_latency_ms"]["p99"], 12.0);
        assert_eq!(c["throughput_rps"], 2500.0);
        assert_eq!(c["ledger_total_cents"], 53500);
        assert_eq!(c["expected_total_cents"], 50000);
        assert_eq!(c["can_duplicate"], true);
        assert_eq!(c["verdict"], "ok");
        assert_eq!(value["run"]["messages_per_cell"], 100);
    }

    #[test]
    fn svg_is_one_escaped_document_with_every_semantics_and_fault() {
        let mut cells = Vec::new();
        for s in Semantics::ALL {
            for f in Fault::ALL {
                cells.push(cell(s, f, u64::from(f == Fault::LostAcks), 0));
            }
        }
        let svg = svg(&cells);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
        for s in Semantics::ALL {
            assert!(svg.contains(s.name()));
        }
        for f in Fault::ALL {
            assert!(svg.contains(&format!(">{}</text>", f.name())));
        }
        // Four panels: a throughput bar and two latency bars per semantics, a loss bar and a
        // duplicate bar per cell.
        let (s, f) = (Semantics::ALL.len(), Fault::ALL.len());
        assert_eq!(svg.matches("<title>").count(), s + 2 * s + 2 * s * f);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn notes_escape_nothing_and_name_the_cell() {
        let text = notes(&[cell(Semantics::AtMostOnce, Fault::BrokerKill, 0, 0)]);
        assert_eq!(text, "at-most-once × broker-kill: a <note> & more\n");
        assert_eq!(escape("a<b>&"), "a&lt;b&gt;&amp;");
    }
}
