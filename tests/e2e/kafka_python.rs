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
fn kafka_python_admin_creates_validates_describes_trims_grows_and_deletes_topics() {
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
    assert!(lines.contains(&"delete_records 0 6 0"), "{output}");
    assert!(
        lines.contains(&"delete_records beyond OffsetOutOfRangeError"),
        "{output}"
    );
    assert!(
        lines.contains(&"topics "),
        "deleted, nothing left: {output}"
    );
}

/// `(partition, offset, value number)` rows and the final assignment printed by
/// `group_consume.py`.
fn parse_member(output: &str) -> (Vec<(i32, i64, u64)>, Vec<i32>) {
    let mut rows = Vec::new();
    let mut assigned = Vec::new();
    for line in output.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["assigned"] => {}
            ["assigned", list] => assigned = list.split(',').map(|p| p.parse().unwrap()).collect(),
            [p, o, v] => rows.push((
                p.parse().unwrap(),
                o.parse().unwrap(),
                v.trim_start_matches('v').parse().unwrap(),
            )),
            _ => panic!("unexpected line: {line}"),
        }
    }
    (rows, assigned)
}

fn spawn_member(
    python: &std::path::Path,
    bootstrap: &str,
    group: &str,
    extra: &[&str],
) -> std::thread::JoinHandle<String> {
    let (python, bootstrap, group) = (python.to_owned(), bootstrap.to_owned(), group.to_owned());
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    std::thread::spawn(move || {
        let mut args = vec![
            "--bootstrap",
            &*bootstrap,
            "--topic",
            "grouped",
            "--group",
            &*group,
        ];
        args.extend(extra.iter().map(String::as_str));
        run_python(&python, "group_consume.py", &args)
    })
}

/// Two members share a topic's partitions, commit after processing; every message is
/// processed; a member started later resumes from the committed offsets. Then a member that
/// processes but crashes before committing: its replacement reads those messages again
/// (at-least-once: duplicates allowed, losses not).
#[test]
fn kafka_python_consumer_group_rebalances_commits_and_resumes() {
    let broker = Broker::start(&[]);
    let python = kafka_python("3.0.12");
    let bootstrap = broker.bootstrap();
    let produce = |count: &str| {
        run_python(
            &python,
            "produce_consume.py",
            &[
                "--bootstrap",
                &bootstrap,
                "--topic",
                "grouped",
                "--partitions",
                "4",
                "--count",
                count,
                "--create-only-if-missing",
            ],
        )
    };
    produce("1000");
    let a = spawn_member(&python, &bootstrap, "g", &[]);
    let b = spawn_member(&python, &bootstrap, "g", &[]);
    let (rows_a, assigned_a) = parse_member(&a.join().unwrap());
    let (rows_b, assigned_b) = parse_member(&b.join().unwrap());
    let mut seen: Vec<u64> = rows_a.iter().chain(&rows_b).map(|r| r.2).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen,
        (0..1000).collect::<Vec<_>>(),
        "every message processed"
    );
    let mut all_assigned: Vec<i32> = assigned_a.iter().chain(&assigned_b).copied().collect();
    all_assigned.sort_unstable();
    assert_eq!(
        all_assigned,
        vec![0, 1, 2, 3],
        "the two members split the partitions"
    );

    // Committed offsets survive the members: a new one reads only what came after.
    produce("500");
    let (rows_c, _) = parse_member(&spawn_member(&python, &bootstrap, "g", &[]).join().unwrap());
    let mut values: Vec<u64> = rows_c.iter().map(|r| r.2).collect();
    values.sort_unstable();
    assert_eq!(
        values,
        (0..500).collect::<Vec<_>>(),
        "resumed exactly after the committed offsets"
    );

    // A member that processes 200 messages and dies before committing.
    produce("300");
    let (crashed, _) = parse_member(
        &spawn_member(
            &python,
            &bootstrap,
            "g",
            &["--max", "200", "--no-commit-exit"],
        )
        .join()
        .unwrap(),
    );
    assert_eq!(crashed.len(), 200);
    let (replacement, _) =
        parse_member(&spawn_member(&python, &bootstrap, "g", &[]).join().unwrap());
    let replayed: std::collections::BTreeSet<u64> = replacement.iter().map(|r| r.2).collect();
    for (_, _, value) in &crashed {
        assert!(
            replayed.contains(value),
            "message v{value} processed by the crashed member was not delivered again"
        );
    }
    assert_eq!(replayed, (0..300).collect(), "nothing lost");
}
