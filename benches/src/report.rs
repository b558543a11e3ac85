//! What a run measured, and how it is reported: medians with min–max, the JSON results file,
//! the Markdown tables (with the ratios semel/peer and semel/limit) and the SVG charts.

use crate::svg::{Bar, Chart, short};
use crate::targets::Target;
use crate::workloads::{Produce, Workload};
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::Path;

/// Median, min and max of a set of runs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spread {
    /// The median (upper median for an even count).
    pub(crate) median: f64,
    /// The smallest.
    pub(crate) min: f64,
    /// The largest.
    pub(crate) max: f64,
}

impl Spread {
    /// `None` for no values.
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Self {
            median: v[v.len() / 2],
            min: v[0],
            max: v[v.len() - 1],
        })
    }

    fn json(self) -> Value {
        json!({"median": self.median, "min": self.min, "max": self.max})
    }

    fn bar(self) -> Bar {
        Some((self.median, self.min, self.max))
    }
}

/// Quantile `q` of sorted samples (nearest rank).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One run of one throughput workload.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    /// Records acknowledged (produce) or read (consume).
    pub(crate) records: u64,
    /// Wall time of the timed part.
    pub(crate) seconds: f64,
    /// Record payload bytes.
    pub(crate) size: usize,
    /// Wall seconds the producer spent blocked in `commit_transaction`.
    pub(crate) commit_seconds: f64,
    /// Transactions committed.
    pub(crate) commits: u64,
    /// Broker CPU seconds spent in the timed part (and, for produce, start-up and topic creation).
    pub(crate) cpu_s: f64,
    /// The `/proc/<pid>/stat` tick figure for the broker's whole life (cross-check).
    pub(crate) cpu_stat_s: f64,
    /// Broker peak RSS in MiB over the broker's life up to the end of the run.
    pub(crate) peak_rss_mib: f64,
    /// "cold (fresh data dir)" etc.
    pub(crate) pages: &'static str,
}

impl Run {
    fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    fn mb_per_s(&self) -> f64 {
        self.records_per_s() * self.size as f64 / 1e6
    }
}

/// Every run of one (target, workload, partitions, record size).
#[derive(Clone, Debug)]
pub(crate) struct Figure {
    /// Broker configuration.
    pub(crate) target: Target,
    /// What was done.
    pub(crate) workload: Workload,
    /// Partitions of the topic.
    pub(crate) partitions: i32,
    /// Record payload bytes.
    pub(crate) size: usize,
    /// The runs that completed.
    pub(crate) runs: Vec<Run>,
    /// Why the others did not.
    pub(crate) errors: Vec<String>,
}

impl Figure {
    /// Records per second.
    pub(crate) fn rate(&self) -> Option<Spread> {
        Spread::of(self.runs.iter().map(Run::records_per_s))
    }

    fn mb(&self) -> Option<Spread> {
        Spread::of(self.runs.iter().map(Run::mb_per_s))
    }

    fn cpu_us_per_record(&self) -> Option<Spread> {
        Spread::of(
            self.runs
                .iter()
                .map(|r| r.cpu_s * 1e6 / r.records.max(1) as f64),
        )
    }

    fn json(&self) -> Value {
        json!({
            "target": self.target.name(),
            "workload": self.workload.name(),
            "partitions": self.partitions,
            "record_bytes": self.size,
            "records_per_s": self.rate().map(Spread::json),
            "mb_per_s": self.mb().map(Spread::json),
            "broker_cpu_us_per_record": self.cpu_us_per_record().map(Spread::json),
            "runs": self.runs.iter().map(|r| json!({
                "records": r.records, "seconds": r.seconds,
                "records_per_s": r.records_per_s(), "mb_per_s": r.mb_per_s(),
                "commits": r.commits, "commit_blocked_s": r.commit_seconds,
                "broker_cpu_s": r.cpu_s, "broker_cpu_stat_ticks_s": r.cpu_stat_s,
                "broker_peak_rss_mib": r.peak_rss_mib, "pages": r.pages,
            })).collect::<Vec<_>>(),
            "errors": self.errors,
        })
    }
}

/// One produce→consume latency measurement per run for a target.
#[derive(Clone, Debug)]
pub(crate) struct LatencyFigure {
    /// Broker configuration.
    pub(crate) target: Target,
    /// Offered rate (records/s).
    pub(crate) rate: u64,
    /// How the rate was chosen.
    pub(crate) rate_basis: String,
    /// Per run: p50, p99, p99.9 (ms), samples, broker CPU s, peak RSS MiB.
    pub(crate) runs: Vec<LatencyRun>,
    /// Runs that failed.
    pub(crate) errors: Vec<String>,
}

/// One latency run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LatencyRun {
    /// Median latency, ms.
    pub(crate) p50: f64,
    /// 99th percentile, ms.
    pub(crate) p99: f64,
    /// 99.9th percentile, ms.
    pub(crate) p999: f64,
    /// Samples behind the quantiles.
    pub(crate) samples: usize,
    /// Produce→acknowledgement median, ms (the produce path alone).
    pub(crate) ack_p50: f64,
    /// Produce→acknowledgement 99th percentile, ms.
    pub(crate) ack_p99: f64,
    /// semel's own Produce handling time, median (bucket upper bound, ms; NaN for peers).
    pub(crate) broker_produce_p50: f64,
    /// semel's own Produce handling time, 99th percentile (bucket upper bound, ms).
    pub(crate) broker_produce_p99: f64,
    /// semel's log flush time, 99th percentile (bucket upper bound, ms).
    pub(crate) broker_fsync_p99: f64,
    /// Broker CPU seconds.
    pub(crate) cpu_s: f64,
    /// Broker peak RSS MiB.
    pub(crate) peak_rss_mib: f64,
}

impl LatencyFigure {
    fn q(&self, f: impl Fn(&LatencyRun) -> f64) -> Option<Spread> {
        Spread::of(self.runs.iter().map(f))
    }
}

/// The machine's own limits, every repetition kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct Limits {
    /// MiB written per repetition.
    pub(crate) write_mib: usize,
    /// Sequential write + fdatasync every MiB into a new file, MB/s.
    pub(crate) write_cold: Vec<f64>,
    /// The same, overwriting a file written just before, MB/s.
    pub(crate) write_warm: Vec<f64>,
    /// One 100 B append + fdatasync, ms, sorted.
    pub(crate) fdatasync_ms: Vec<f64>,
    /// One loopback TCP connection, MB/s.
    pub(crate) tcp: Vec<f64>,
}

/// Date, machine, load: where and when.
#[derive(Clone, Debug, Default)]
pub(crate) struct Machine {
    /// `date -u`.
    pub(crate) date: String,
    /// CPU model and `nproc`.
    pub(crate) cpus: String,
    /// MemTotal.
    pub(crate) memory: String,
    /// Kernel release.
    pub(crate) kernel: String,
    /// `df -h` of the data directories' file system.
    pub(crate) disk: String,
    /// /proc/loadavg at the start.
    pub(crate) load_start: String,
    /// /proc/loadavg at the end.
    pub(crate) load_end: String,
    /// Versions of the targets and the client.
    pub(crate) versions: Vec<(String, String)>,
    /// The command line.
    pub(crate) command: String,
    /// Runs per figure.
    pub(crate) runs: usize,
    /// Wall time of the whole run, s.
    pub(crate) wall_s: f64,
}

/// Everything measured in one invocation.
pub(crate) struct Results {
    /// Where and when.
    pub(crate) machine: Machine,
    /// The machine's limits.
    pub(crate) limits: Limits,
    /// Throughput figures.
    pub(crate) figures: Vec<Figure>,
    /// Latency figures.
    pub(crate) latency: Vec<LatencyFigure>,
    /// Targets that were measured, in order.
    pub(crate) targets: Vec<Target>,
    /// (partitions, size) configurations, in order.
    pub(crate) configs: Vec<(i32, usize)>,
}

/// "n/a" when there is no figure (no runs, or a quantile of no samples, which is NaN).
fn fmt_spread(s: Option<Spread>, f: impl Fn(f64) -> String) -> String {
    s.filter(|s| !s.median.is_nan()).map_or_else(
        || "n/a".to_owned(),
        |s| {
            if (s.max - s.min).abs() < f64::EPSILON {
                f(s.median)
            } else {
                format!("{} ({}–{})", f(s.median), f(s.min), f(s.max))
            }
        },
    )
}

fn config_label(partitions: i32, size: usize) -> String {
    format!(
        "{partitions} partition{}, {}",
        if partitions == 1 { "" } else { "s" },
        if size >= 1024 && size.is_multiple_of(1024) {
            format!("{} KiB", size / 1024)
        } else {
            format!("{size} B")
        }
    )
}

impl Results {
    fn figure(
        &self,
        target: Target,
        workload: Workload,
        partitions: i32,
        size: usize,
    ) -> Option<&Figure> {
        self.figures.iter().find(|f| {
            f.target == target
                && f.workload == workload
                && f.partitions == partitions
                && f.size == size
        })
    }

    fn rate(
        &self,
        target: Target,
        workload: Workload,
        partitions: i32,
        size: usize,
    ) -> Option<f64> {
        self.figure(target, workload, partitions, size)
            .and_then(Figure::rate)
            .map(|s| s.median)
    }

    fn latency_of(&self, target: Target) -> Option<&LatencyFigure> {
        self.latency
            .iter()
            .find(|l| l.target == target && !l.runs.is_empty())
    }

    fn fdatasync_p99(&self) -> f64 {
        quantile(&self.limits.fdatasync_ms, 0.99)
    }

    /// The machine-readable results.
    pub(crate) fn json(&self) -> Value {
        let m = &self.machine;
        let l = &self.limits;
        json!({
            "date": m.date, "cpus": m.cpus, "memory": m.memory, "kernel": m.kernel, "disk": m.disk,
            "load_average_start": m.load_start, "load_average_end": m.load_end,
            "versions": m.versions.iter().map(|(k, v)| json!({"what": k, "version": v})).collect::<Vec<_>>(),
            "command": m.command, "runs_per_figure": m.runs, "wall_s": m.wall_s,
            "limits": {
                "write_mib": l.write_mib,
                "write_fdatasync_every_mib_cold_mb_per_s": Spread::of(l.write_cold.iter().copied()).map(Spread::json),
                "write_fdatasync_every_mib_warm_mb_per_s": Spread::of(l.write_warm.iter().copied()).map(Spread::json),
                "fdatasync_100b_ms": {
                    "samples": l.fdatasync_ms.len(),
                    "p50": quantile(&l.fdatasync_ms, 0.5), "p99": quantile(&l.fdatasync_ms, 0.99),
                    "max": l.fdatasync_ms.last(),
                },
                "loopback_tcp_mb_per_s": Spread::of(l.tcp.iter().copied()).map(Spread::json),
            },
            "throughput": self.figures.iter().map(Figure::json).collect::<Vec<_>>(),
            "latency": self.latency.iter().map(|f| json!({
                "target": f.target.name(), "rate": f.rate, "rate_basis": f.rate_basis,
                "p50_ms": f.q(|r| r.p50).map(Spread::json),
                "p99_ms": f.q(|r| r.p99).map(Spread::json),
                "p999_ms": f.q(|r| r.p999).map(Spread::json),
                "runs": f.runs.iter().map(|r| json!({
                    "p50_ms": r.p50, "p99_ms": r.p99, "p999_ms": r.p999, "samples": r.samples,
                    "ack_p50_ms": r.ack_p50, "ack_p99_ms": r.ack_p99,
                    "broker_produce_p50_ms_le": r.broker_produce_p50,
                    "broker_produce_p99_ms_le": r.broker_produce_p99,
                    "broker_fsync_p99_ms_le": r.broker_fsync_p99,
                    "broker_cpu_s": r.cpu_s, "broker_peak_rss_mib": r.peak_rss_mib,
                })).collect::<Vec<_>>(),
                "errors": f.errors,
            })).collect::<Vec<_>>(),
            "ratios": self.ratios().iter().map(|r| json!({
                "goal": r.goal, "config": r.config, "semel": r.semel, "reference": r.reference,
                "ratio": r.ratio, "target_ratio": r.target, "met": r.met,
            })).collect::<Vec<_>>(),
        })
    }

    /// The goals of the issue, as measured ratios.
    fn ratios(&self) -> Vec<Ratio> {
        let mut out = Vec::new();
        let acks_all = Workload::Produce(Produce::AcksAll);
        let acks_1 = Workload::Produce(Produce::Acks1);
        let txn100 = Workload::Produce(txn100_mode());
        let idem = Workload::Produce(Produce::Idempotent);
        let cold = Spread::of(self.limits.write_cold.iter().copied()).map(|s| s.median);
        for &(p, size) in &self.configs {
            let config = config_label(p, size);
            let semel_always = self.rate(Target::SemelAlways, acks_all, p, size);
            let mut push = |goal: &str,
                            semel: Option<f64>,
                            reference: Option<f64>,
                            target: f64,
                            unit: &str| {
                if let (Some(s), Some(r)) = (semel, reference) {
                    let ratio = s / r;
                    out.push(Ratio {
                        goal: goal.to_owned(),
                        config: config.clone(),
                        semel: format!("{} {unit}", short(s)),
                        reference: format!("{} {unit}", short(r)),
                        ratio,
                        target,
                        met: ratio >= target,
                    });
                }
            };
            push(
                "semel --flush always acks=all ÷ tansu sqlite acks=all (≥ 10×)",
                semel_always,
                self.rate(Target::TansuSqlite, acks_all, p, size),
                10.0,
                "rec/s",
            );
            push(
                "semel --flush always acks=all MB/s ÷ write+fdatasync per MiB, cold (≥ 0.9×)",
                semel_always.map(|r| r * size as f64 / 1e6),
                cold,
                0.9,
                "MB/s",
            );
            push(
                "semel --flush os acks=1 ÷ tansu memory acks=1 (≥ 1.0×)",
                self.rate(Target::SemelOs, acks_1, p, size),
                self.rate(Target::TansuMemory, acks_1, p, size),
                1.0,
                "rec/s",
            );
            push(
                "semel --flush always: transactional (100 ms) ÷ acks=all (≥ 0.97×)",
                self.rate(Target::SemelAlways, txn100, p, size),
                semel_always,
                0.97,
                "rec/s",
            );
            push(
                "semel --flush always: transactional (100 ms) ÷ idempotent (≥ 0.97×)",
                self.rate(Target::SemelAlways, txn100, p, size),
                self.rate(Target::SemelAlways, idem, p, size),
                0.97,
                "rec/s",
            );
            push(
                "semel --flush always, 2 producers: transactional (100 ms) ÷ acks=all (context: overlapping commits)",
                self.rate(
                    Target::SemelAlways,
                    Workload::TwoProducers(txn100_mode()),
                    p,
                    size,
                ),
                self.rate(
                    Target::SemelAlways,
                    Workload::TwoProducers(Produce::AcksAll),
                    p,
                    size,
                ),
                0.97,
                "rec/s",
            );
            push(
                "semel --flush os acks=all ÷ tansu memory acks=all (context, no goal)",
                self.rate(Target::SemelOs, acks_all, p, size),
                self.rate(Target::TansuMemory, acks_all, p, size),
                1.0,
                "rec/s",
            );
        }
        if let Some(l) = self.latency_of(Target::SemelAlways)
            && let Some(p99) = l.q(|r| r.p99)
        {
            let limit = 2.0 * self.fdatasync_p99();
            out.push(Ratio {
                goal: "p99 produce→consume, --flush always at half peak ÷ 2× p99 of one fdatasync (≤ 1.0×)".into(),
                config: config_label(1, 100),
                semel: format!("{:.2} ms", p99.median),
                reference: format!("{limit:.2} ms"),
                ratio: p99.median / limit,
                target: 1.0,
                met: p99.median <= limit,
            });
        }
        out
    }

    /// The Markdown section for BENCHMARKS.md.
    pub(crate) fn markdown(&self) -> String {
        let m = &self.machine;
        let l = &self.limits;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Date: {} · {} · {} · kernel {}",
            m.date, m.cpus, m.memory, m.kernel
        );
        let _ = writeln!(s, "\nDisk (data directories): `{}`", m.disk);
        let _ = writeln!(
            s,
            "\nLoad average (1, 5, 15 min) at the start: {} · at the end: {} (the machine is shared with other builds).",
            m.load_start, m.load_end
        );
        let _ = writeln!(
            s,
            "\n`{}` · {} run(s) per figure · {:.0} s wall.",
            m.command, m.runs, m.wall_s
        );
        for (what, version) in &m.versions {
            let _ = writeln!(s, "- {what}: {version}");
        }
        let _ = writeln!(s, "\n### This machine's limits (same run)\n");
        let _ = writeln!(s, "| limit | median (min–max) |\n|---|---|");
        let mb = |v: f64| format!("{v:.0} MB/s");
        let _ = writeln!(
            s,
            "| sequential write {} MiB, fdatasync every 1 MiB, new file (cold pages) | {} |",
            l.write_mib,
            fmt_spread(Spread::of(l.write_cold.iter().copied()), mb)
        );
        let _ = writeln!(
            s,
            "| same, overwriting a file just written (warm pages) | {} |",
            fmt_spread(Spread::of(l.write_warm.iter().copied()), mb)
        );
        let _ = writeln!(
            s,
            "| one 100 B append + fdatasync ({} samples) | p50 {:.3} ms · p99 {:.3} ms · max {:.3} ms |",
            l.fdatasync_ms.len(),
            quantile(&l.fdatasync_ms, 0.5),
            quantile(&l.fdatasync_ms, 0.99),
            l.fdatasync_ms.last().copied().unwrap_or(f64::NAN)
        );
        let _ = writeln!(
            s,
            "| loopback TCP, one connection, 1 MiB writes | {} |",
            fmt_spread(Spread::of(l.tcp.iter().copied()), mb)
        );

        let _ = writeln!(s, "\n### Goals: ratios measured in this run\n");
        let _ = writeln!(
            s,
            "| goal | config | semel | reference | ratio | met |\n|---|---|---|---|---|---|"
        );
        for r in self.ratios() {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.2}× | {} |",
                r.goal,
                r.config,
                r.semel,
                r.reference,
                r.ratio,
                if r.met { "yes" } else { "**no**" }
            );
        }

        let rec = |v: f64| short(v);
        for &(p, size) in &self.configs {
            let _ = writeln!(
                s,
                "\n### Throughput: {} (records/s, median (min–max); MB/s)\n",
                config_label(p, size)
            );
            let _ = write!(s, "| workload |");
            for t in &self.targets {
                let _ = write!(s, " {} |", t.name());
            }
            let _ = write!(s, "\n|---|");
            for _ in &self.targets {
                let _ = write!(s, "---|");
            }
            let _ = writeln!(s);
            for w in Workload::ALL {
                let _ = write!(s, "| {} |", w.name());
                for &t in &self.targets {
                    let cell = match self.figure(t, w, p, size) {
                        Some(f) if !f.runs.is_empty() => format!(
                            "{} · {:.1} MB/s",
                            fmt_spread(f.rate(), rec),
                            f.mb().map_or(f64::NAN, |m| m.median)
                        ),
                        Some(f) if !f.errors.is_empty() => {
                            format!("failed: {}", short_error(&f.errors[0]))
                        }
                        _ => "—".to_owned(),
                    };
                    let _ = write!(s, " {cell} |");
                }
                let _ = writeln!(s);
            }
            let _ = writeln!(
                s,
                "\nBroker cost, same runs: CPU µs per record (median) · peak RSS MiB (max over runs)\n"
            );
            let _ = write!(s, "| workload |");
            for t in &self.targets {
                let _ = write!(s, " {} |", t.name());
            }
            let _ = write!(s, "\n|---|");
            for _ in &self.targets {
                let _ = write!(s, "---|");
            }
            let _ = writeln!(s);
            for w in Workload::ALL {
                let _ = write!(s, "| {} |", w.name());
                for &t in &self.targets {
                    let cell = match self.figure(t, w, p, size) {
                        Some(f) if !f.runs.is_empty() => format!(
                            "{:.2} µs · {:.0} MiB",
                            f.cpu_us_per_record().map_or(f64::NAN, |c| c.median),
                            f.runs.iter().map(|r| r.peak_rss_mib).fold(0.0, f64::max)
                        ),
                        _ => "—".to_owned(),
                    };
                    let _ = write!(s, " {cell} |");
                }
                let _ = writeln!(s);
            }
        }

        let _ = writeln!(
            s,
            "\n### Produce→consume latency (1 partition, 100 B, acks=all, linger.ms=0)\n"
        );
        let _ = writeln!(
            s,
            "| target | rate (records/s) | p50 ms | p99 ms | p99.9 ms | produce→ack p50 / p99 ms | inside semel: Produce p99 ≤ / flush p99 ≤ ms | broker CPU s / run | samples / run |\n|---|---|---|---|---|---|---|---|---|"
        );
        let ms = |v: f64| format!("{v:.2}");
        for f in &self.latency {
            if f.runs.is_empty() {
                let _ = writeln!(
                    s,
                    "| {} | {} ({}) | failed: {} | | | | | | |",
                    f.target.name(),
                    f.rate,
                    f.rate_basis,
                    f.errors.first().map_or("", |e| short_error(e))
                );
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} ({}) | {} | {} | {} | {} / {} | {} | {} | {} |",
                f.target.name(),
                f.rate,
                f.rate_basis,
                fmt_spread(f.q(|r| r.p50), ms),
                fmt_spread(f.q(|r| r.p99), ms),
                fmt_spread(f.q(|r| r.p999), ms),
                fmt_spread(f.q(|r| r.ack_p50), ms),
                fmt_spread(f.q(|r| r.ack_p99), ms),
                if f.target.is_semel() {
                    format!(
                        "{} / {}",
                        fmt_spread(f.q(|r| r.broker_produce_p99), ms),
                        fmt_spread(f.q(|r| r.broker_fsync_p99), ms)
                    )
                } else {
                    "n/a".to_owned()
                },
                fmt_spread(f.q(|r| r.cpu_s), ms),
                f.runs.first().map_or(0, |r| r.samples)
            );
        }
        let _ = writeln!(
            s,
            "\nReference: one 100 B append + fdatasync p99 = {:.3} ms, so the goal is p99 ≤ {:.3} ms.",
            self.fdatasync_p99(),
            2.0 * self.fdatasync_p99()
        );
        s
    }

    /// Writes one SVG per workload (and one for latency) into `dir`; returns the file names.
    pub(crate) fn charts(&self, dir: &Path) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        let groups: Vec<String> = self
            .configs
            .iter()
            .map(|&(p, s)| config_label(p, s))
            .collect();
        let series: Vec<String> = self.targets.iter().map(|t| t.name().to_owned()).collect();
        let cold = Spread::of(self.limits.write_cold.iter().copied());
        let warm = Spread::of(self.limits.write_warm.iter().copied());
        for w in Workload::ALL {
            let values: Vec<Vec<Bar>> = self
                .configs
                .iter()
                .map(|&(p, size)| {
                    self.targets
                        .iter()
                        .map(|&t| {
                            self.figure(t, w, p, size)
                                .and_then(Figure::mb)
                                .and_then(Spread::bar)
                        })
                        .collect()
                })
                .collect();
            let mut lines = Vec::new();
            if matches!(w, Workload::Produce(_) | Workload::TwoProducers(_)) {
                if let Some(c) = cold {
                    lines.push((
                        c.median,
                        format!("write+fdatasync/MiB cold {:.0}", c.median),
                    ));
                }
                if let Some(c) = warm {
                    lines.push((c.median, format!("… warm {:.0}", c.median)));
                }
            }
            let title = format!("{} — MB/s of record payload (median, min–max)", w.name());
            let chart = Chart {
                title: &title,
                unit: "MB/s",
                groups: &groups,
                series: &series,
                values: &values,
                lines: &lines,
                log: false,
            };
            let name = format!("{}.svg", w.slug());
            std::fs::write(dir.join(&name), chart.render()).map_err(|e| format!("{name}: {e}"))?;
            names.push(name);
        }
        let lat: Vec<&LatencyFigure> = self.latency.iter().collect();
        let groups: Vec<String> = lat
            .iter()
            .map(|f| format!("{} @ {}", f.target.name(), short(f.rate as f64)))
            .collect();
        let series = vec!["p50".to_owned(), "p99".to_owned(), "p99.9".to_owned()];
        let values: Vec<Vec<Bar>> = lat
            .iter()
            .map(|f| {
                vec![
                    f.q(|r| r.p50).and_then(Spread::bar),
                    f.q(|r| r.p99).and_then(Spread::bar),
                    f.q(|r| r.p999).and_then(Spread::bar),
                ]
            })
            .collect();
        let limit = 2.0 * self.fdatasync_p99();
        let lines = vec![(limit, format!("2× fdatasync p99 {limit:.2} ms"))];
        let chart = Chart {
            title: "produce→consume latency at half peak (ms, log scale)",
            unit: "ms",
            groups: &groups,
            series: &series,
            values: &values,
            lines: &lines,
            log: true,
        };
        std::fs::write(dir.join("latency.svg"), chart.render())
            .map_err(|e| format!("latency.svg: {e}"))?;
        names.push("latency.svg".into());
        Ok(names)
    }
}

fn short_error(e: &str) -> &str {
    let end = e.char_indices().nth(80).map_or(e.len(), |(i, _)| i);
    e.get(..end).unwrap_or(e)
}

/// One goal of the issue as a measured ratio.
struct Ratio {
    goal: String,
    config: String,
    semel: String,
    reference: String,
    ratio: f64,
    target: f64,
    met: bool,
}

/// The transactional mode the exactly-once goal names: a commit every 100 ms.
fn txn100_mode() -> Produce {
    Produce::Transactional {
        commit_every_ms: 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_the_median_with_min_and_max() {
        let s = Spread::of([3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert!(Spread::of(std::iter::empty()).is_none());
    }

    #[test]
    fn a_figure_without_samples_prints_as_not_available() {
        let nan = Spread {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
        assert_eq!(fmt_spread(Some(nan), |v| format!("{v}")), "n/a");
        assert_eq!(fmt_spread(None, |v| format!("{v}")), "n/a");
        let one = Spread::of([2.0]).unwrap();
        assert_eq!(fmt_spread(Some(one), |v| format!("{v}")), "2");
    }

    #[test]
    fn quantile_takes_the_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&sorted, 0.5), 50.0);
        assert_eq!(quantile(&sorted, 0.99), 99.0);
        assert_eq!(quantile(&sorted, 1.0), 100.0);
        assert_eq!(quantile(&sorted, 0.0), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn config_label_names_partitions_and_size() {
        assert_eq!(config_label(1, 100), "1 partition, 100 B");
        assert_eq!(config_label(8, 1024), "8 partitions, 1 KiB");
    }
}
