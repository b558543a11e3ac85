//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! ```text
//! cargo xtask test                      the whole test suite (what CI runs)
//! cargo xtask codegen [--check] [--schemas DIR]
//!                                       regenerate crates/wire/src/messages from Kafka's JSON schemas
//! cargo xtask fuzz [--seconds N] [TARGET...]
//!                                       run every fuzz target (or the named ones) for N seconds each
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod codegen;
mod fuzz;

/// Result type of every task: a failure is a message for the user.
pub(crate) type TaskResult = Result<(), String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "test" => test(rest),
        "codegen" => codegen::run(rest),
        "fuzz" => fuzz::run(rest),
        "help" | "--help" | "-h" => {
            println!("{}", HELP);
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  test                      run the whole test suite: unit, property, integration and doc tests,
                            fuzz-corpus replays, and every benchmark once in test mode
  codegen [--check] [--schemas DIR]
                            generate crates/wire/src/messages from Kafka's JSON message schemas
                            (default DIR: ../shared/kafka-protocol); --check fails if the
                            committed code is stale
  fuzz [--seconds N] [TARGET...]
                            run each cargo-fuzz target for N seconds (default 30); installs
                            cargo-fuzz if it is missing";

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(manifest_dir)
}

/// Runs a command in the workspace root, echoing it, and fails on a non-zero exit.
pub(crate) fn run_cmd(program: &str, args: &[&str]) -> TaskResult {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("cannot start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{program} {}` failed with {status}",
            args.join(" ")
        ))
    }
}

fn test(args: &[String]) -> TaskResult {
    if let Some(arg) = args.first() {
        return Err(format!("`test` takes no arguments, got `{arg}`"));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // The end-to-end tests (tests/) run the real `semel` binary: build it first. They also
    // create their own Python virtual environments (kafka-python from PyPI) on first use.
    run_cmd(
        &cargo,
        &[
            "build",
            "--package",
            "semel-broker",
            "--bin",
            "semel",
            "--locked",
        ],
    )?;
    // Unit, property, integration and end-to-end tests; benches run once each in test mode so they are known to work.
    run_cmd(
        &cargo,
        &["test", "--workspace", "--all-targets", "--locked"],
    )?;
    // --all-targets leaves out doc tests.
    run_cmd(&cargo, &["test", "--workspace", "--doc", "--locked"])?;
    Ok(())
}
