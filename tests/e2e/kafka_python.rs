//! kafka-python (an independent, pure-Python client) against the broker.

use semel_e2e::{Broker, kafka_python, run_python};
use std::collections::BTreeMap;

/// What `produce_consume.py` reported: per partition, `(offset, value number)` in read order.
fn parse(output: &str) -> (BTreeMap<i32, Vec<(i64, u64)>>, usize) {
    let mut partitions: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    let mut produced = 0;
    for line in output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["produced", n] => produced = n.parse().unwrap(),
            [partition, offset, _key, value] => partitions
                .entry(partition.parse().unwrap())
                .or_default()
                .push((
                    offset.parse().unwrap(),
                    value.trim_start_matches('v').parse().unwrap(),
                )),
            _ => panic!("unexpected line from the client: {line}"),
        }
    }
    (partitions, produced)
}

/// Every message arrives once; offsets are dense from 0 and follow send order per partition.
fn check_exactly_once_in_order(output: &str, count: u64) {
    let (partitions, produced) = parse(output);
    assert_eq!(produced as u64, count);
    let mut all: Vec<u64> = partitions.values().flatten().map(|&(_, v)| v).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..count).collect::<Vec<_>>(),
        "every message exactly once"
    );
    for (partition, records) in &partitions {
        for (i, (offset, _)) in records.iter().enumerate() {
            assert_eq!(
                *offset, i as i64,
                "partition {partition}: offsets are dense from 0"
            );
        }
        assert!(
            records.windows(2).all(|w| w[0].1 < w[1].1),
            "partition {partition}: send order kept"
        );
    }
}

fn round_trip(client_version: &str, acks: &str, flush: &str) {
    round_trip_with(client_version, acks, flush, &[]);
}

fn round_trip_with(client_version: &str, acks: &str, flush: &str, extra: &[&str]) {
    let broker = Broker::start(&["--flush", flush]);
    let python = kafka_python(client_version);
    let topic = format!(
        "py-{}-acks{}",
        client_version.replace('.', "-"),
        acks.replace('-', "m")
    );
    let bootstrap = broker.bootstrap();
    let mut args = vec![
        "--bootstrap",
        &*bootstrap,
        "--topic",
        &*topic,
        "--partitions",
        "3",
        "--acks",
        acks,
        "--count",
        "2000",
    ];
    args.extend_from_slice(extra);
    let output = run_python(&python, "produce_consume.py", &args);
    check_exactly_once_in_order(&output, 2000);
}

#[test]
fn kafka_python_3_acks_all_round_trip_with_flush_always() {
    round_trip("3.0.12", "all", "always");
}

#[test]
fn kafka_python_3_idempotent_producer_round_trip() {
    round_trip_with("3.0.12", "all", "always", &["--idempotent"]);
}

#[test]
fn kafka_python_3_acks_1_round_trip() {
    round_trip("3.0.12", "1", "interval:50");
}

#[test]
fn kafka_python_3_acks_0_round_trip() {
    round_trip("3.0.12", "0", "os");
}

#[test]
fn kafka_python_2_acks_all_round_trip() {
    round_trip("2.3.3", "all", "always");
}

#[test]
fn kafka_python_admin_creates_validates_describes_grows_and_deletes_topics() {
    let broker = Broker::start(&[]);
    let python = kafka_python("3.0.12");
    let output = run_python(&python, "admin.py", &["--bootstrap", &broker.bootstrap()]);
    let lines: Vec<&str> = output.lines().collect();
    assert!(lines.contains(&"create cfg-ok OK"), "{output}");
    assert!(
        lines.contains(&"create cfg-compact InvalidConfigurationError"),
        "{output}"
    );
    assert!(
        lines.contains(&"create cfg-unknown InvalidConfigurationError"),
        "{output}"
    );
    assert!(
        lines.contains(&"create cfg-ok TopicAlreadyExistsError"),
        "{output}"
    );
    assert!(lines.contains(&"describe retention.ms=3600000"), "{output}");
    assert!(
        lines.contains(&"describe max.message.bytes=2000000"),
        "{output}"
    );
    assert!(
        lines.contains(&"topics "),
        "deleted, nothing left: {output}"
    );
}
