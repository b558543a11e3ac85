//! Classic Kafka consumer-group membership state machine: join, sync, heartbeat, leave, generations, rebalance timeouts. Sans-IO.
//!
//! Work in progress: see the project's issue for this crate.
