//! The `semel` binary.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("semel: the broker is not written yet (issue 7)");
    ExitCode::FAILURE
}
