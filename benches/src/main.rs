//! End-to-end benchmark: librdkafka (the `rdkafka` crate) against a real `semel` process on
//! loopback, with its own temporary data directory.
//!
//! ```text
//! cargo build --release -p semel-broker -p semel-bench
//! target/release/e2e-bench [--quick] [--runs N] [--out FILE.json]
//! ```
//!
//! Workloads: produce at acks=1 (`--flush os`) and acks=all (`--flush always`), idempotent and
//! transactional (a commit every 100 ms and every 10 ms) produce at acks=all, consume from the
//! start, and produce→consume latency at a fixed rate; 100 B and 1 KiB records, one partition.
//! Each figure is the median of the runs, with min and max. The broker's CPU time and peak RSS
//! are read from /proc. Every run starts a fresh broker on a fresh directory, so the data pages
//! are cold (first touch) — say so when quoting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use semel_e2e::Broker;
use std::time::{Duration, Instant};

const T: Timeout = Timeout::After(Duration::from_secs(120));

#[derive(Clone, Copy)]
enum Mode {
    Acks1,
    AcksAll,
    Idempotent,
    Transactional { commit_every_ms: u64 },
}

impl Mode {
    fn name(self) -> String {
        match self {
            Mode::Acks1 => "acks=1, --flush os".into(),
            Mode::AcksAll => "acks=all, --flush always".into(),
            Mode::Idempotent => "idempotent acks=all, --flush always".into(),
            Mode::Transactional { commit_every_ms } => {
                format!("transactional (commit every {commit_every_ms} ms), --flush always")
            }
        }
    }

    fn flush(self) -> &'static str {
        match self {
            Mode::Acks1 => "os",
            _ => "always",
        }
    }
}

/// Broker CPU seconds (user + system) and peak RSS in MiB, from /proc.
fn broker_usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(") ")
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is 0, utime 11, stime 12; clock ticks are 100/s on Linux.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu, hwm_kib / 1024.0)
}

struct Produced {
    seconds: f64,
    records: u64,
    bytes: u64,
}

fn produce(broker: &Broker, mode: Mode, topic: &str, records: u64, size: usize) -> Produced {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set(
            "acks",
            if matches!(mode, Mode::Acks1) {
                "1"
            } else {
                "all"
            },
        );
    match mode {
        Mode::Idempotent => {
            config.set("enable.idempotence", "true");
        }
        Mode::Transactional { .. } => {
            config.set("transactional.id", format!("bench-{topic}"));
        }
        _ => {}
    }
    let producer: ThreadedProducer<DefaultProducerContext> = config.create().unwrap();
    let commit_every = match mode {
        Mode::Transactional { commit_every_ms } => {
            producer.init_transactions(T).unwrap();
            producer.begin_transaction().unwrap();
            Some(Duration::from_millis(commit_every_ms))
        }
        _ => None,
    };
    let payload = vec![b'x'; size];
    let started = Instant::now();
    let mut last_commit = Instant::now();
    for _ in 0..records {
        let mut record = BaseRecord::<(), _>::to(topic)
            .partition(0)
            .payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        if let Some(every) = commit_every
            && last_commit.elapsed() >= every
        {
            producer.commit_transaction(T).unwrap();
            producer.begin_transaction().unwrap();
            last_commit = Instant::now();
        }
    }
    if commit_every.is_some() {
        producer.commit_transaction(T).unwrap();
    } else {
        producer.flush(T).unwrap();
    }
    Produced {
        seconds: started.elapsed().as_secs_f64(),
        records,
        bytes: records * size as u64,
    }
}

fn consume(broker: &Broker, topic: &str, records: u64) -> f64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "bench")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let started = Instant::now();
    let mut seen = 0;
    while seen < records && started.elapsed() < Duration::from_secs(120) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message.unwrap();
            seen += 1;
        }
    }
    assert_eq!(seen, records, "consumed everything");
    started.elapsed().as_secs_f64()
}

/// Produce→consume latency at `rate` records/s for `seconds`: p50, p99, p99.9 in ms.
fn latency(broker: &Broker, topic: &str, rate: u64, seconds: u64) -> (f64, f64, f64) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "0")
        .set("acks", "all")
        .create()
        .unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "latency")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.min.bytes", "1")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let epoch = Instant::now();
    let total = rate * seconds;
    let to = topic.to_owned();
    let sender = std::thread::spawn(move || {
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        for i in 0..total {
            let due = epoch + interval * u32::try_from(i).unwrap();
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let sent = epoch.elapsed().as_nanos().to_string();
            let _ = producer.send(BaseRecord::<(), _>::to(&to).partition(0).payload(&sent));
        }
        producer.flush(T).unwrap();
    });
    let mut samples = Vec::with_capacity(usize::try_from(total).unwrap());
    let deadline = Instant::now() + Duration::from_secs(seconds + 30);
    while (samples.len() as u64) < total && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let message = message.unwrap();
            let sent: u128 = std::str::from_utf8(message.payload().unwrap())
                .unwrap()
                .parse()
                .unwrap();
            samples.push((epoch.elapsed().as_nanos() - sent) as f64 / 1e6);
        }
    }
    sender.join().unwrap();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99), at(0.999))
}

fn median(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 });
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "target/e2e-bench.json".into());
    if std::env::var_os("SEMEL_BIN").is_none() {
        // The release `semel` beside this binary.
        let exe = std::env::current_exe().unwrap();
        semel_e2e::set_semel_bin(exe.with_file_name("semel"));
    }
    let scale = if quick { 1 } else { 3 };
    let mut results = Vec::new();
    println!(
        "| workload | record | records/s (median, min–max) | MB/s | broker CPU s | broker peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for size in [100usize, 1024] {
        let records = if size == 100 {
            100_000 * scale
        } else {
            40_000 * scale
        };
        let modes = [
            Mode::Acks1,
            Mode::AcksAll,
            Mode::Idempotent,
            Mode::Transactional {
                commit_every_ms: 100,
            },
            Mode::Transactional {
                commit_every_ms: 10,
            },
        ];
        for mode in modes {
            let mut rates = Vec::new();
            let mut consume_rates = Vec::new();
            let (mut cpu, mut rss) = (0.0f64, 0.0f64);
            for run in 0..runs {
                let broker = Broker::start(&["--flush", mode.flush()]);
                let topic = format!("bench-{size}-{run}");
                let setup: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
                    .set("bootstrap.servers", broker.bootstrap())
                    .create()
                    .unwrap();
                // Metadata for the topic creates it (auto-create, one partition).
                setup.client().fetch_metadata(Some(&topic), T).unwrap();
                let p = produce(&broker, mode, &topic, u64::try_from(records).unwrap(), size);
                rates.push(p.records as f64 / p.seconds);
                if matches!(mode, Mode::AcksAll) {
                    let secs = consume(&broker, &topic, p.records);
                    consume_rates.push(p.records as f64 / secs);
                }
                let (c, r) = broker_usage(broker.pid());
                cpu = cpu.max(c);
                rss = rss.max(r);
                let _ = p.bytes;
            }
            let (med, min, max) = median(&mut rates);
            let mb = med * size as f64 / 1e6;
            println!(
                "| produce {} | {size} B | {med:.0} ({min:.0}–{max:.0}) | {mb:.1} | {cpu:.1} | {rss:.0} |",
                mode.name()
            );
            results.push(serde_json::json!({
                "workload": format!("produce {}", mode.name()), "record_bytes": size,
                "records_per_s": {"median": med, "min": min, "max": max}, "mb_per_s": mb,
                "broker_cpu_s": cpu, "broker_peak_rss_mib": rss, "runs": runs, "pages": "cold",
            }));
            if !consume_rates.is_empty() {
                let (med, min, max) = median(&mut consume_rates);
                let mb = med * size as f64 / 1e6;
                println!(
                    "| consume from the start | {size} B | {med:.0} ({min:.0}–{max:.0}) | {mb:.1} | | |"
                );
                results.push(serde_json::json!({
                    "workload": "consume from the start", "record_bytes": size,
                    "records_per_s": {"median": med, "min": min, "max": max}, "mb_per_s": mb, "runs": runs,
                }));
            }
        }
    }
    let broker = Broker::start(&["--flush", "always"]);
    let setup: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    setup.client().fetch_metadata(Some("lat"), T).unwrap();
    let (p50, p99, p999) = latency(&broker, "lat", 1000, if quick { 5 } else { 15 });
    println!(
        "\nproduce→consume latency at 1000 records/s, acks=all, --flush always: p50 {p50:.2} ms, p99 {p99:.2} ms, p99.9 {p999:.2} ms"
    );
    results.push(serde_json::json!({
        "workload": "produce→consume latency, 1000 records/s, acks=all, --flush always",
        "p50_ms": p50, "p99_ms": p99, "p999_ms": p999,
    }));
    std::fs::write(&out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    println!("\nresults: {out}");
}
