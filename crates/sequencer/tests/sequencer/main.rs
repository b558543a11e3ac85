//! Integration tests of semel-sequencer: the fuzz corpus, model-based property tests of the
//! producer state table, snapshot/restore and replay from the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod corpus;
mod delivery;
mod model;
