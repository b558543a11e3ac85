//! `cargo xtask codegen`: generates `crates/wire/src/messages/` from Kafka's JSON message schemas.
//!
//! Reads every `*.json` in the schema directory (default `../shared/kafka-protocol` relative to
//! the workspace root), builds one Rust module per schema, a `mod.rs` with the API table and the
//! body enums, and the random-value builders the round-trip tests use
//! (`crates/wire/tests/wire/generated_random.rs`). Output goes through `rustfmt`, so it is
//! formatted exactly as `cargo fmt` would leave it. `--check` compares instead of writing and
//! fails listing every stale file.

mod emit;
mod model;
mod random;

use crate::{TaskResult, workspace_root};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) fn run(args: &[String]) -> TaskResult {
    let root = workspace_root();
    let mut schemas = root.join("..").join("shared").join("kafka-protocol");
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--schemas" => schemas = PathBuf::from(it.next().ok_or("--schemas needs a directory")?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let files = generate(&schemas)?;
    let mut formatted = BTreeMap::new();
    for (path, text) in files {
        let text = rustfmt(&root, &text).map_err(|e| format!("{}: {e}", path.display()))?;
        formatted.insert(path, text);
    }
    let messages_dir = root.join("crates/wire/src/messages");
    // Generated files that the generator no longer produces.
    let mut leftovers = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&messages_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(&root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| path.clone());
            if !formatted.contains_key(&rel)
                && std::fs::read_to_string(&path).is_ok_and(|t| t.starts_with(emit::HEADER))
            {
                leftovers.push(rel);
            }
        }
    }
    leftovers.sort();
    if check {
        let mut stale: Vec<String> = Vec::new();
        for (rel, text) in &formatted {
            match std::fs::read_to_string(root.join(rel)) {
                Ok(existing) if &existing == text => {}
                Ok(_) => stale.push(format!("{} (differs)", rel.display())),
                Err(_) => stale.push(format!("{} (missing)", rel.display())),
            }
        }
        for rel in &leftovers {
            stale.push(format!("{} (no longer generated)", rel.display()));
        }
        if stale.is_empty() {
            eprintln!(
                "codegen: {} generated files are up to date",
                formatted.len()
            );
            return Ok(());
        }
        return Err(format!(
            "generated code is stale; run `cargo xtask codegen` and commit the result:\n  {}",
            stale.join("\n  ")
        ));
    }
    for (rel, text) in &formatted {
        let path = root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    for rel in &leftovers {
        std::fs::remove_file(root.join(rel)).map_err(|e| format!("{}: {e}", rel.display()))?;
    }
    eprintln!("codegen: wrote {} files", formatted.len());
    Ok(())
}

/// Every generated file (path relative to the workspace root → unformatted text).
fn generate(schemas: &Path) -> Result<BTreeMap<PathBuf, String>, String> {
    let entries = std::fs::read_dir(schemas)
        .map_err(|e| format!("cannot read schema directory {}: {e}", schemas.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("no *.json schemas in {}", schemas.display()));
    }
    let mut messages = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let msg = model::parse_message(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        messages.push(msg);
    }
    messages.sort_by(|a, b| a.name.cmp(&b.name));
    // Pair requests with responses by API key.
    let mut apis = Vec::new();
    for req in messages.iter().filter(|m| m.kind == "request") {
        let key = req
            .api_key
            .ok_or_else(|| format!("{} has no apiKey", req.name))?;
        let resp = messages
            .iter()
            .find(|m| m.kind == "response" && m.api_key == Some(key))
            .ok_or_else(|| format!("{} has no response schema", req.name))?;
        if resp.valid != req.valid {
            return Err(format!(
                "{} and {} differ in validVersions",
                req.name, resp.name
            ));
        }
        apis.push(emit::Api {
            key,
            name: req.name.trim_end_matches("Request").to_owned(),
            request: req,
            response: resp,
        });
    }
    apis.sort_by_key(|a| a.key);
    for name in ["RequestHeader", "ResponseHeader"] {
        if !messages.iter().any(|m| m.name == name) {
            return Err(format!("{name}.json is missing"));
        }
    }
    let mut out = BTreeMap::new();
    let dir = PathBuf::from("crates/wire/src/messages");
    for msg in &messages {
        let text = emit::message_module(msg).map_err(|e| format!("{}: {e}", msg.name))?;
        out.insert(
            dir.join(format!("{}.rs", model::module_name(&msg.name))),
            text,
        );
    }
    out.insert(dir.join("mod.rs"), emit::mod_rs(&messages, &apis));
    out.insert(
        PathBuf::from("crates/wire/tests/wire/generated_random.rs"),
        random::random_rs(&messages, &apis)?,
    );
    Ok(out)
}

/// Formats `text` with `rustfmt --edition 2024` through stdin/stdout.
fn rustfmt(root: &Path, text: &str) -> Result<String, String> {
    let rustfmt = std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".to_owned());
    let mut child = Command::new(&rustfmt)
        .args(["--edition", "2024", "--emit", "stdout"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {rustfmt}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = text.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt failed: {e}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt writer thread panicked".to_owned())?
        .map_err(|e| format!("writing to rustfmt: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt rejected the generated code: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| "rustfmt output is not UTF-8".to_owned())
}
