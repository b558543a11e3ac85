//! The `semel-lab` binary end to end: options, outputs, exit status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_semel-lab"))
}

#[test]
fn help_explains_every_option() {
    let output = lab().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--messages",
        "--semantics",
        "--faults",
        "--out",
        "--semel",
        "--transaction-size",
        "--cut-every",
        "--cell-timeout-s",
        "--flush",
    ] {
        assert!(help.contains(option), "{option} missing from --help");
    }
    for name in [
        "exactly-once-ctp",
        "lost-acks",
        "broker-kill",
        "consumer-crash",
    ] {
        assert!(help.contains(name), "{name} not explained");
    }
}

#[test]
fn unknown_semantics_is_refused_with_the_valid_names() {
    let output = lab().args(["--semantics", "twice"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at-least-once"), "{stderr}");
}

#[test]
fn a_missing_broker_binary_is_a_clear_error_not_a_panic() {
    let out = tempfile::tempdir().unwrap();
    let output = lab()
        .args(["--semel", "/nonexistent/semel", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/semel does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_small_run_writes_the_table_json_and_svg() {
    let out = tempfile::tempdir().unwrap();
    let output = lab()
        .args([
            "--messages",
            "300",
            "--semantics",
            "at-least-once,exactly-once",
        ])
        .args(["--faults", "none", "--semel"])
        .arg(semel_e2e::semel_bin())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("at-least-once  none") && stdout.contains("exactly-once   none"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("lab.json")).unwrap())
            .unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for cell in cells {
        assert_eq!(cell["delivered"], 300);
        assert_eq!(cell["duplicate_count"], 0);
        assert_eq!(cell["verdict"], "ok");
        assert_eq!(cell["ledger_total_cents"], cell["expected_total_cents"]);
    }
    assert_eq!(json["run"]["messages_per_cell"], 300);
    let svg = std::fs::read_to_string(out.path().join("lab.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let text = std::fs::read_to_string(out.path().join("lab.txt")).unwrap();
    assert!(text.starts_with("semantics"));
}
