//! semel-lab: the delivery-semantics lab.
//!
//! It runs at-most-once, at-least-once and exactly-once (twice: a consumer that applies through
//! the dedup store, and a consume-transform-produce copier in front of a ledger without one) —
//! each a real librdkafka producer and consumer configuration — against a real `semel` broker
//! process, injects real faults (lost produce acknowledgements through a TCP proxy, a producer
//! crash, a consumer crash between applying and committing, a broker `kill -9`), and measures
//! what happened by counting the
//! rows of a payment ledger (SQLite, through `semel-dedup`) that the consumer charges once per
//! message it receives: a duplicate is a double charge, a loss a missing one.
//!
//! It is not a benchmark of the broker alone (the figures include the clients and the
//! ledger's durable commits) and not a simulation: every number is counted from the ledger.
//!
//! Main items: [`Semantics`], [`Fault`], [`CellConfig`], [`run_cell`] → [`CellResult`],
//! [`run_matrix`]; [`Ledger`] (the counted database); [`report`] (table, JSON, SVG).
//!
//! ```
//! use semel_lab::{Fault, Semantics, exposure};
//! // What a fault can do to a semantics, by design (the lab measures what it did).
//! assert!(exposure(Semantics::AtLeastOnce, Fault::BrokerKill).can_duplicate);
//! assert!(!exposure(Semantics::AtLeastOnce, Fault::BrokerKill).can_lose);
//! assert!(!exposure(Semantics::ExactlyOnce, Fault::LostAcks).can_duplicate);
//! ```

mod cell;
mod ledger;
mod model;
pub mod report;

use std::path::Path;

pub use cell::{CellConfig, CellResult, Progress, run_cell};
pub use ledger::{Charge, Ledger, LedgerCounts, amount_of};
pub use model::{Exposure, Fault, Semantics, exposure};

/// What can go wrong while running the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The ledger database failed (open, write, read).
    Ledger(String),
    /// A Kafka client could not be created or refused a call the lab cannot recover from.
    Client(String),
    /// The broker, the proxy or the topic could not be set up.
    Harness(String),
    /// Writing a report failed.
    Io(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ledger(m) => write!(f, "ledger: {m}"),
            Self::Client(m) => write!(f, "kafka client: {m}"),
            Self::Harness(m) => write!(f, "harness: {m}"),
            Self::Io(m) => write!(f, "i/o: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Runs every (semantics × fault) cell in order, each on a fresh broker, with ledgers under
/// `work_dir`. `progress(index, semantics, fault, snapshot)` is called while each cell runs.
///
/// # Errors
/// The first cell that cannot run (see [`run_cell`]), with the cell named.
pub fn run_matrix(
    semantics: &[Semantics],
    faults: &[Fault],
    config: &CellConfig,
    work_dir: &Path,
    progress: &mut dyn FnMut(usize, Semantics, Fault, Progress),
) -> Result<Vec<CellResult>, Error> {
    let mut cells = Vec::new();
    for &s in semantics {
        for &f in faults {
            let index = cells.len();
            let cell = run_cell(s, f, config, work_dir, &mut |p| progress(index, s, f, p))
                .map_err(|e| match e {
                    Error::Ledger(m) => Error::Ledger(format!("{s} × {f}: {m}")),
                    Error::Client(m) => Error::Client(format!("{s} × {f}: {m}")),
                    Error::Harness(m) => Error::Harness(format!("{s} × {f}: {m}")),
                    Error::Io(m) => Error::Io(format!("{s} × {f}: {m}")),
                })?;
            cells.push(cell);
        }
    }
    Ok(cells)
}
