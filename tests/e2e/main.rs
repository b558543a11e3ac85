//! End-to-end tests against the real `semel` binary. One test binary (link time matters on two
//! cores), one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod kafka_python;
mod librdkafka;
mod lifecycle;
mod transactions;
