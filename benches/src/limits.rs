//! This machine's own limits, measured in the same run as the brokers: sequential write with
//! `fdatasync` every MiB (into fresh pages and into an overwritten file), the latency of one
//! small write + `fdatasync`, and loopback TCP throughput over one connection.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

/// Writes `mib` MiB in 1 MiB `write`s with `fdatasync` after each; MB/s (10^6 bytes).
fn write_sync(file: &mut File, mib: usize) -> Result<f64, String> {
    let buf = vec![0x5a_u8; MIB];
    let started = Instant::now();
    for _ in 0..mib {
        file.write_all(&buf).map_err(|e| format!("write: {e}"))?;
        file.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
    }
    Ok((mib * MIB) as f64 / started.elapsed().as_secs_f64() / 1e6)
}

/// Sequential write + `fdatasync` every MiB into a new file (first-touch pages: "cold").
pub(crate) fn write_fdatasync_cold(dir: &Path, mib: usize) -> Result<f64, String> {
    let path = dir.join("limit-cold.bin");
    let mut file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rate = write_sync(&mut file, mib);
    drop(file);
    let _ = std::fs::remove_file(&path);
    rate
}

/// The same into a file of that size written just before, overwritten from offset 0 (blocks
/// allocated, pages cached: "warm").
pub(crate) fn write_fdatasync_warm(dir: &Path, mib: usize) -> Result<f64, String> {
    let path = dir.join("limit-warm.bin");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    write_sync(&mut file, mib)?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| format!("seek: {e}"))?;
    let rate = write_sync(&mut file, mib);
    drop(file);
    let _ = std::fs::remove_file(&path);
    rate
}

/// Latency of one 100-byte append + `fdatasync`, `count` times: every sample in ms, sorted.
pub(crate) fn fdatasync_latency(dir: &Path, count: usize) -> Result<Vec<f64>, String> {
    let path = dir.join("limit-fsync.bin");
    let mut file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let record = [0x5a_u8; 100];
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        file.write_all(&record).map_err(|e| format!("write: {e}"))?;
        file.sync_data().map_err(|e| format!("fdatasync: {e}"))?;
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    samples.sort_by(f64::total_cmp);
    Ok(samples)
}

/// One loopback TCP connection, 1 MiB writes for `seconds` (or `max_bytes`); MB/s received.
pub(crate) fn loopback_tcp(seconds: f64, max_bytes: u64) -> Result<f64, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("addr: {e}"))?;
    let reader = std::thread::spawn(move || -> Result<(u64, f64), String> {
        let (mut stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        let mut buf = vec![0_u8; MIB];
        let mut total = 0_u64;
        let started = Instant::now();
        loop {
            let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        Ok((total, started.elapsed().as_secs_f64()))
    });
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let buf = vec![0xa5_u8; MIB];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut sent = 0_u64;
    while Instant::now() < deadline && sent < max_bytes {
        stream.write_all(&buf).map_err(|e| format!("write: {e}"))?;
        sent += MIB as u64;
    }
    drop(stream);
    let (total, secs) = reader
        .join()
        .map_err(|_| "reader thread panicked".to_owned())??;
    Ok(total as f64 / secs / 1e6)
}
