//! A real crash: a child process applies keys to a file-backed store in a
//! loop and is killed with SIGKILL at an arbitrary moment; the parent then
//! reopens the file and checks that every recorded key has exactly one
//! effect and every effect its key. The next child starts again from the
//! first key (as a consumer redelivers from its last committed offset), so
//! the keys committed before the kill must all come back as duplicates.
//!
//! The child is this same test binary, run with a filter for this test and
//! an environment variable that selects the child role.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use semel_dedup::rusqlite::params;
use semel_dedup::{Applied, Config, DedupStore, Durability, Error};

const TEST_NAME: &str = "killed_process_keeps_each_key_with_exactly_one_effect";
const CHILD_ENV: &str = "SEMEL_DEDUP_CRASH_CHILD_DB";
const READY: &str = "semel-dedup-crash-child-ready";
/// A child never runs longer than this, even if nobody kills it.
const CHILD_LIFETIME: Duration = Duration::from_secs(10);
/// Every 13th key's effect fails: it must never be recorded or charged.
const FAILING_EVERY: u64 = 13;

fn open(path: &Path) -> DedupStore {
    let store = DedupStore::open(
        path,
        Config {
            ttl_ms: i64::MAX / 2,
            durability: Durability::Full,
        },
    )
    .unwrap();
    store
        .connection()
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS ledger (key BLOB NOT NULL, seq INTEGER NOT NULL)",
        )
        .unwrap();
    store
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn charge(
    seq: u64,
) -> impl FnOnce(&semel_dedup::rusqlite::Transaction<'_>) -> semel_dedup::rusqlite::Result<()> {
    move |tx| {
        tx.prepare_cached("INSERT INTO ledger (key, seq) VALUES (?1, ?2)")?
            .execute(params![key(seq).as_slice(), seq as i64])?;
        if seq.is_multiple_of(FAILING_EVERY) {
            tx.execute("INSERT INTO no_such_table VALUES (1)", [])?;
        }
        Ok(())
    }
}

fn check(result: Result<Applied<()>, Error>, seq: u64) {
    match result {
        Ok(_) => assert!(
            !seq.is_multiple_of(FAILING_EVERY),
            "failing effect {seq} succeeded"
        ),
        Err(Error::Effect(_)) => assert!(seq.is_multiple_of(FAILING_EVERY), "effect {seq} failed"),
        Err(other) => panic!("store error at {seq}: {other:?}"),
    }
}

/// The child: apply keys 0, 1, 2, ... in batches of varying size (and
/// sometimes one by one) until killed.
fn child(path: &Path) {
    let started = Instant::now();
    let mut store = open(path);
    let mut seq = 0u64;
    let mut round = 0u64;
    let mut announced = false;
    while started.elapsed() < CHILD_LIFETIME {
        round += 1;
        if round.is_multiple_of(5) {
            check(store.apply_once(&key(seq), 0, charge(seq)), seq);
            seq += 1;
        } else {
            let size = 1 + (round * 7) % 40;
            let mut batch = store.batch().unwrap();
            for _ in 0..size {
                check(batch.apply_once(&key(seq), 0, charge(seq)), seq);
                seq += 1;
            }
            batch.commit().unwrap();
        }
        if !announced {
            // After the first commit, so every child makes progress.
            let mut out = std::io::stdout();
            writeln!(out, "{READY}").unwrap();
            out.flush().unwrap();
            announced = true;
        }
    }
}

/// What the store holds: key -> number of ledger rows.
fn contents(store: &DedupStore) -> (BTreeMap<Vec<u8>, u64>, Vec<Vec<u8>>) {
    let conn = store.connection();
    let mut rows: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT key FROM ledger").unwrap();
    for key in stmt.query_map([], |row| row.get::<_, Vec<u8>>(0)).unwrap() {
        *rows.entry(key.unwrap()).or_default() += 1;
    }
    let mut stmt = conn
        .prepare("SELECT key FROM semel_dedup_keys ORDER BY key")
        .unwrap();
    let keys = stmt
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (rows, keys)
}

#[test]
fn killed_process_keeps_each_key_with_exactly_one_effect() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dedup.sqlite");
    let exe = std::env::current_exe().unwrap();
    let jitter = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        % 40;
    let mut previous_keys = 0usize;
    for (round, delay_ms) in [60u64, 250, 140, 330].into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(line) => {
                    // libtest may print "test <name> ... " before it on the same line.
                    if line.unwrap().trim_end().ends_with(READY) {
                        break;
                    }
                }
                None => panic!(
                    "child {round} exited before its first commit: {:?}",
                    child.wait()
                ),
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms + jitter));
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "child {round} was not killed: {status:?}"
        );

        let store = open(&path);
        let (rows, keys) = contents(&store);
        for key in &keys {
            assert_eq!(
                rows.get(key),
                Some(&1),
                "round {round}: key {key:?} has {:?} effects",
                rows.get(key)
            );
        }
        assert_eq!(
            rows.len(),
            keys.len(),
            "round {round}: an effect without its key"
        );
        for key in &keys {
            let seq = u64::from_be_bytes(key.as_slice().try_into().unwrap());
            assert_ne!(
                seq % FAILING_EVERY,
                0,
                "round {round}: failed effect {seq} was recorded"
            );
        }
        assert!(
            keys.len() > previous_keys || round > 0,
            "round {round}: nothing committed"
        );
        assert!(
            keys.len() >= previous_keys,
            "round {round}: committed keys were lost"
        );
        eprintln!("round {round}: {} keys", keys.len());
        previous_keys = keys.len();
    }
}
