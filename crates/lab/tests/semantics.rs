//! Each semantics keeps its promise under every fault, counted from the ledger: at-most-once
//! never duplicates, at-least-once never loses, exactly-once does neither and the ledger total
//! is exact; with no fault all three deliver everything once. Where a fault cannot cause a
//! loss or a duplicate for a semantics, the test says so (and prints the measured figure)
//! instead of asserting it. Runs the real `semel` binary (built by `cargo xtask test`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use semel_lab::{CellConfig, CellResult, Fault, Semantics, report, run_matrix};

fn config() -> CellConfig {
    CellConfig {
        messages: 1000,
        transaction_size: 50,
        cut_every: 10,
        cell_timeout: Duration::from_secs(90),
        ..CellConfig::default()
    }
}

/// Runs every fault for `semantics` once and checks what holds whatever the fault.
fn run(semantics: Semantics) -> Vec<CellResult> {
    let _ = semel_e2e::semel_bin();
    let dir = tempfile::tempdir().unwrap();
    let cells = run_matrix(
        &[semantics],
        &Fault::ALL,
        &config(),
        dir.path(),
        &mut |_, _, _, _| {},
    )
    .unwrap_or_else(|e| panic!("{semantics}: {e}"));
    eprintln!("{}\n{}", report::table(&cells), report::notes(&cells));
    for cell in &cells {
        let name = format!("{} × {}", cell.semantics, cell.fault);
        assert!(
            cell.fault_injected,
            "{name}: the fault did not happen: {:?}",
            cell.notes
        );
        assert!(
            !cell.notes.iter().any(|n| n.contains("timed out")),
            "{name}: the cell timed out: {:?}",
            cell.notes
        );
        assert_eq!(
            cell.foreign_rows, 0,
            "{name}: rows for ids outside the workload"
        );
        assert_eq!(
            cell.ledger_rows,
            cell.delivered + cell.duplicate_count,
            "{name}: every row is a first or an extra charge"
        );
        if cell.fault == Fault::None {
            assert_eq!(
                (cell.delivered, cell.duplicate_count),
                (cell.messages, 0),
                "{name}: with no fault everything is delivered once"
            );
            assert_eq!(
                cell.ledger_total, cell.expected_total,
                "{name}: ledger total"
            );
        }
        if cell.exposure.can_lose {
            eprintln!(
                "{name}: can lose by design; {} lost (not asserted)",
                cell.lost_count
            );
        } else {
            assert_eq!(
                cell.lost_count, 0,
                "{name}: cannot lose, lost {}",
                cell.lost_count
            );
            assert_eq!(cell.message_loss_rate, 0.0, "{name}");
        }
        if cell.exposure.can_duplicate {
            eprintln!(
                "{name}: can duplicate by design; {} duplicates (not asserted)",
                cell.duplicate_count
            );
        } else {
            assert_eq!(cell.duplicate_count, 0, "{name}: cannot duplicate");
        }
        assert_eq!(report::verdict(cell), "ok", "{name}");
    }
    cells
}

fn cell(cells: &[CellResult], fault: Fault) -> &CellResult {
    cells.iter().find(|c| c.fault == fault).unwrap()
}

#[test]
fn at_most_once_never_duplicates_under_any_fault() {
    let cells = run(Semantics::AtMostOnce);
    // The consumer crash lands after the commit and before the apply: that chunk is lost, and
    // the ledger must show it (the counting is not blind).
    let crash = cell(&cells, Fault::ConsumerCrash);
    assert!(crash.lost_count > 0, "{:?}", crash.notes);
    assert!(crash.ledger_total < crash.expected_total);
}

#[test]
fn at_least_once_never_loses_under_any_fault() {
    let cells = run(Semantics::AtLeastOnce);
    for c in &cells {
        assert!(
            c.ledger_total >= c.expected_total,
            "{} × {}",
            c.semantics,
            c.fault
        );
    }
    // The consumer crash lands after the apply and before the commit: that chunk is applied
    // again, and the ledger must show it.
    let crash = cell(&cells, Fault::ConsumerCrash);
    assert!(crash.duplicate_count > 0, "{:?}", crash.notes);
    assert!(crash.ledger_total > crash.expected_total);
}

#[test]
fn exactly_once_neither_loses_nor_duplicates_and_the_ledger_is_exact_under_any_fault() {
    let cells = run(Semantics::ExactlyOnce);
    for c in &cells {
        let name = format!("{} × {}", c.semantics, c.fault);
        assert_eq!((c.lost_count, c.duplicate_count), (0, 0), "{name}");
        assert_eq!(c.ledger_total, c.expected_total, "{name}: ledger total");
        assert_eq!(c.delivered, c.messages, "{name}");
    }
    // The redelivery after the consumer crash reached the ledger and was refused by the
    // dedup store; the zombie producer was fenced.
    let crash = cell(&cells, Fault::ConsumerCrash);
    assert!(crash.dedup_skipped > 0, "{:?}", crash.notes);
    let producer = cell(&cells, Fault::ProducerCrash);
    assert!(
        producer.notes.iter().any(|n| n.contains("is fenced")),
        "{:?}",
        producer.notes
    );
}

#[test]
fn exactly_once_consume_transform_produce_keeps_a_ledger_without_dedup_exact_under_any_fault() {
    let cells = run(Semantics::ExactlyOnceTransform);
    for c in &cells {
        let name = format!("{} × {}", c.semantics, c.fault);
        assert_eq!((c.lost_count, c.duplicate_count), (0, 0), "{name}");
        assert_eq!(c.ledger_total, c.expected_total, "{name}: ledger total");
        assert_eq!(c.dedup_skipped, 0, "{name}: this ledger has no dedup check");
    }
    // The copier crashed with a transaction open; a new one fenced it and resumed from the
    // committed input offset; the ledger (which counts every message it reads) stayed exact.
    let crash = cell(&cells, Fault::ConsumerCrash);
    assert!(
        crash
            .notes
            .iter()
            .any(|n| n.contains("old copier is fenced")),
        "{:?}",
        crash.notes
    );
}
