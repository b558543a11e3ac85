//! Integration tests of semel-group: one binary (link time matters), one module per topic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "group/behaviour.rs"]
mod behaviour;
#[path = "group/errors.rs"]
mod errors;
#[path = "group/model.rs"]
mod model;
#[path = "group/records.rs"]
mod records;
#[path = "group/support.rs"]
mod support;
