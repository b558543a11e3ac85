//! A disk that refuses to grow a file, for real: the test runs itself again as a child under a
//! file-size limit (`ulimit -f`, RLIMIT_FSIZE, with SIGXFSZ ignored), so growing a file past it
//! fails with EFBIG the way a full filesystem fails with ENOSPC. The child fills a log until a
//! new segment cannot be created, checks that the error is clear and that the log stays usable,
//! and reports what it appended; the parent reopens the directory without the limit and finds
//! every entry.
//!
//! A test binary of its own: the `fork` behind spawning the child briefly duplicates every open
//! descriptor, so a log that another test drops and reopens at that moment would find its
//! directory lock still held.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use semel_log::{Error, FlushPolicy, Log, LogConfig};

fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        flush: FlushPolicy::Os,
        ..LogConfig::default()
    }
}

/// A payload whose bytes depend on `seed`.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as usize * 7 + i * 13) as u8)
        .collect()
}

const TEST_NAME: &str = "a_file_that_cannot_grow_is_a_clear_error_and_the_log_stays_usable";
const CHILD_ENV: &str = "SEMEL_LOG_FULL_DISK_CHILD_DIR";
const REPORT: &str = "semel-log-full-disk-appended=";
/// The child's file-size limit, in the shell's `ulimit -f` blocks (512 or 1024 bytes: the
/// test works with either).
const LIMIT_BLOCKS: u32 = 512;
const SEGMENT_BYTES: u64 = 64 * 1024;
/// Larger than any file the limit allows: its segment cannot be created.
const HUGE: usize = 2 * 1024 * 1024;

#[test]
fn a_file_that_cannot_grow_is_a_clear_error_and_the_log_stays_usable() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -f {LIMIT_BLOCKS} && trap '' XFSZ && exec \"$0\" \"$@\""
        ))
        .arg(&exe)
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let appended: u64 = stdout
        .split(REPORT)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the child did not report: {stdout}"));
    // Without the limit: every entry the child appended is there, nothing else.
    let log = Log::open(dir.path(), small_config(SEGMENT_BYTES)).unwrap();
    let entries = log.read(0, usize::MAX).unwrap();
    assert_eq!(entries.len() as u64, appended);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.payload[..], payload(i as u64, e.payload.len())[..]);
    }
}

fn child(dir: &Path) {
    let mut log = Log::open(dir, small_config(SEGMENT_BYTES)).unwrap();
    let mut appended = 0u64;
    for i in 0..20 {
        log.append(&payload(i, 10_000), 1, 0).unwrap();
        appended += 1;
    }
    log.sync().unwrap();
    // An entry larger than a segment gets a segment of its own, which cannot be made this big.
    let err = log.append(&payload(appended, HUGE), 1, 0).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    let text = err.to_string();
    println!("the refused append: {text}");
    assert!(text.contains(".log"), "the error names the file: {text}");
    // The log stays usable: what was appended is readable, and small appends still work.
    assert_eq!(log.read(0, usize::MAX).unwrap().len() as u64, appended);
    for _ in 0..5 {
        log.append(&payload(appended, 10_000), 1, 0).unwrap();
        appended += 1;
    }
    log.sync().unwrap();
    assert_eq!(log.durable_offset(), appended);
    println!("\n{REPORT}{appended}");
}
