//! `cargo xtask codegen`: generates `crates/wire/src/messages/` from Kafka's JSON message schemas.

use crate::TaskResult;

pub(crate) fn run(_args: &[String]) -> TaskResult {
    Err("codegen is being written (issue 2)".to_owned())
}
