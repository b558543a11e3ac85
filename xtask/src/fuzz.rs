//! `cargo xtask fuzz`: run the cargo-fuzz targets in `fuzz/` for a bounded time each.

use crate::{TaskResult, run_cmd, workspace_root};
use std::process::Command;

pub(crate) fn run(args: &[String]) -> TaskResult {
    let mut seconds: u64 = 30;
    let mut targets: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = it.next().ok_or("--seconds needs a value")?;
                seconds = value
                    .parse()
                    .map_err(|_| format!("--seconds: `{value}` is not a whole number"))?;
            }
            other if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
            other => targets.push(other.to_owned()),
        }
    }
    ensure_cargo_fuzz()?;
    if targets.is_empty() {
        targets = list_targets()?;
    }
    if targets.is_empty() {
        return Err("no fuzz targets found in fuzz/fuzz_targets".to_owned());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let max_time = format!("-max_total_time={seconds}");
    let scratch_root = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), std::path::PathBuf::from)
        .join("fuzz-corpus");
    for target in &targets {
        // New inputs go to a scratch corpus under the target directory; the committed seeds in
        // fuzz/corpus/<target> are only read, so a fuzz run never dirties the work tree.
        let scratch = scratch_root.join(target);
        std::fs::create_dir_all(&scratch)
            .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
        let scratch = scratch.to_string_lossy().into_owned();
        let seeds = format!("fuzz/corpus/{target}");
        // `-s none`: no sanitizer, so it runs on stable.
        run_cmd(
            &cargo,
            &[
                "fuzz",
                "run",
                "--fuzz-dir",
                "fuzz",
                "-s",
                "none",
                target,
                &scratch,
                &seeds,
                "--",
                &max_time,
                "-rss_limit_mb=2048",
            ],
        )?;
    }
    Ok(())
}

fn list_targets() -> Result<Vec<String>, String> {
    let dir = workspace_root().join("fuzz").join("fuzz_targets");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut targets = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "rs")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            targets.push(stem.to_owned());
        }
    }
    targets.sort();
    Ok(targets)
}

fn ensure_cargo_fuzz() -> TaskResult {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let installed = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if installed {
        return Ok(());
    }
    run_cmd(&cargo, &["install", "cargo-fuzz", "--locked"])
}
