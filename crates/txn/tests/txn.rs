#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Integration tests of semel-txn: model-based proptests of the coordinator and the index,
//! codec round trips, and the fuzz corpus replay.

#[path = "txn/codec.rs"]
mod codec;
#[path = "txn/coordinator_model.rs"]
mod coordinator_model;
#[path = "txn/corpus.rs"]
mod corpus;
#[path = "txn/index_model.rs"]
mod index_model;
