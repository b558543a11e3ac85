//! Exactly-once with librdkafka: transactions committed and aborted as one, read_committed
//! isolation, zombie fencing, and consume-transform-produce with offsets in the transaction.

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use semel_e2e::Broker;
use std::time::{Duration, Instant};

const T: Timeout = Timeout::After(Duration::from_secs(30));

fn txn_producer(
    broker: &Broker,
    transactional_id: &str,
) -> ThreadedProducer<DefaultProducerContext> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("transactional.id", transactional_id)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    producer.init_transactions(T).expect("init_transactions");
    producer
}

fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    partition: i32,
    value: &str,
) {
    producer
        .send(
            BaseRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(value),
        )
        .map_err(|(e, _)| e)
        .expect("send");
}

/// Every value readable from `topic` (all `partitions`) at `isolation`, read until `idle`
/// passes with nothing new.
fn read_all(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    isolation: &str,
    idle: Duration,
) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut values = Vec::new();
    let mut last = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while last.elapsed() < idle && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("consume");
            values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
            last = Instant::now();
        }
    }
    values.sort();
    values
}

fn create(broker: &Broker, topic: &str, partitions: &str) {
    let python = semel_e2e::kafka_python("3.0.12");
    semel_e2e::run_python(
        &python,
        "produce_consume.py",
        &[
            "--bootstrap",
            &broker.bootstrap(),
            "--topic",
            topic,
            "--partitions",
            partitions,
            "--count",
            "0",
            "--create-only-if-missing",
        ],
    );
}

#[test]
fn committed_transactions_are_seen_aborted_ones_never_by_read_committed() {
    let broker = Broker::start(&["--flush", "always"]);
    create(&broker, "tx", "2");
    let producer = txn_producer(&broker, "tx-commit-abort");
    producer.begin_transaction().unwrap();
    for i in 0..10 {
        send(&producer, "tx", i % 2, &format!("c{i:02}"));
    }
    producer.commit_transaction(T).unwrap();
    producer.begin_transaction().unwrap();
    for i in 0..10 {
        send(&producer, "tx", i % 2, &format!("a{i:02}"));
    }
    producer.flush(T).unwrap();
    producer.abort_transaction(T).unwrap();
    producer.begin_transaction().unwrap();
    send(&producer, "tx", 0, "c99");
    producer.commit_transaction(T).unwrap();

    let committed: Vec<String> = (0..10)
        .map(|i| format!("c{i:02}"))
        .chain(["c99".to_owned()])
        .collect();
    assert_eq!(
        read_all(&broker, "tx", 2, "read_committed", Duration::from_secs(2)),
        committed
    );
    let mut everything = committed.clone();
    everything.extend((0..10).map(|i| format!("a{i:02}")));
    everything.sort();
    assert_eq!(
        read_all(&broker, "tx", 2, "read_uncommitted", Duration::from_secs(2)),
        everything,
        "read_uncommitted sees aborted data too (never the markers)"
    );
}

#[test]
fn an_open_transaction_holds_back_read_committed_consumers_until_it_ends() {
    let broker = Broker::start(&["--flush", "always"]);
    create(&broker, "held", "1");
    let plain: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    let producer = txn_producer(&broker, "tx-held");
    producer.begin_transaction().unwrap();
    send(&producer, "held", 0, "t1");
    producer.flush(T).unwrap();
    // Written after the open transaction: not readable by read_committed until it ends.
    plain
        .send(
            BaseRecord::<(), _>::to("held")
                .partition(0)
                .payload("after"),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    plain.flush(T).unwrap();
    assert_eq!(
        read_all(&broker, "held", 1, "read_committed", Duration::from_secs(2)),
        Vec::<String>::new()
    );
    assert_eq!(
        read_all(
            &broker,
            "held",
            1,
            "read_uncommitted",
            Duration::from_secs(2)
        ),
        vec!["after", "t1"]
    );
    producer.commit_transaction(T).unwrap();
    assert_eq!(
        read_all(&broker, "held", 1, "read_committed", Duration::from_secs(2)),
        vec!["after", "t1"]
    );
}

#[test]
fn a_zombie_is_fenced_by_a_new_producer_with_the_same_transactional_id() {
    let broker = Broker::start(&["--flush", "always"]);
    create(&broker, "fence", "1");
    let zombie = txn_producer(&broker, "tx-fence");
    zombie.begin_transaction().unwrap();
    send(&zombie, "fence", 0, "zombie");
    zombie.flush(T).unwrap();
    // The same transactional id again: the zombie's open transaction is aborted, its epoch fenced.
    let fresh = txn_producer(&broker, "tx-fence");
    fresh.begin_transaction().unwrap();
    send(&fresh, "fence", 0, "fresh");
    fresh.commit_transaction(T).unwrap();
    let outcome = zombie.commit_transaction(T);
    assert!(outcome.is_err(), "the zombie's commit must fail");
    assert_eq!(
        read_all(
            &broker,
            "fence",
            1,
            "read_committed",
            Duration::from_secs(2)
        ),
        vec!["fresh"]
    );
}

#[test]
fn a_transaction_timeout_above_the_broker_maximum_is_refused() {
    let broker = Broker::start(&["--transaction-max-timeout-ms", "60000"]);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("transactional.id", "tx-too-long")
        .set("transaction.timeout.ms", "120000")
        .create()
        .unwrap();
    let err = producer
        .init_transactions(T)
        .expect_err("INVALID_TRANSACTION_TIMEOUT");
    assert!(
        format!("{err}").contains("timeout")
            || format!("{err:?}").contains("InvalidTransactionTimeout"),
        "{err:?}"
    );
}

/// Values of `topic` read with read_committed, per partition in order.
fn read_partitions(broker: &Broker, topic: &str, partitions: i32) -> Vec<Vec<String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "checker")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut out = vec![Vec::new(); usize::try_from(partitions).unwrap()];
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(3) {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            out[usize::try_from(message.partition()).unwrap()]
                .push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
            last = Instant::now();
        }
    }
    out
}

/// Kafka's transactions system test, shrunk: copy N numbered messages from an input topic to
/// an output topic transactionally (kafka-python's transactional producer and
/// send_offsets_to_transaction) while the copier is killed with SIGKILL and restarted, and in a
/// second phase while the broker is killed with SIGKILL and restarted. The output then holds
/// every input message exactly once, in order per partition, and the group's committed offsets
/// are at the end of the input.
#[test]
fn consume_transform_produce_is_exactly_once_across_copier_and_broker_kills() {
    let mut broker = Broker::start(&["--flush", "always"]);
    create(&broker, "ctp-in", "2");
    create(&broker, "ctp-out", "2");
    let input: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let produce_input = |input: &ThreadedProducer<DefaultProducerContext>,
                         range: std::ops::Range<u32>| {
        for i in range {
            let value = format!("m{i:05}");
            input
                .send(
                    BaseRecord::<(), _>::to("ctp-in")
                        .partition(i32::try_from(i % 2).unwrap())
                        .payload(&value),
                )
                .map_err(|(e, _)| e)
                .unwrap();
        }
        input.flush(T).unwrap();
    };
    produce_input(&input, 0..600);
    drop(input);
    let python = semel_e2e::kafka_python("3.0.12");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join("copier.py");
    let copier = |bootstrap: &str| Copier::start(&python, &script, bootstrap);
    // Phase 1: kill the copier after its first few commits, twice.
    for _ in 0..2 {
        let mut child = copier(&broker.bootstrap());
        child.wait_commits(3);
        child.kill();
    }
    // Phase 2: more input, a copier running, and the broker killed under it.
    let input: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    produce_input(&input, 600..1000);
    drop(input);
    let mut child = copier(&broker.bootstrap());
    child.wait_commits(2);
    broker.kill9();
    broker.restart();
    // The copier rides out the restart, or gives up (fenced, aborting): either way it ends by
    // itself, and a last run copies whatever is left.
    let _ = child.wait_exit();
    let mut last = copier(&broker.bootstrap());
    let status = last.wait_exit();
    assert!(
        status.success(),
        "the last copier run failed ({status}):\n{}",
        last.stderr()
    );

    let output = read_partitions(&broker, "ctp-out", 2);
    for (partition, values) in output.iter().enumerate() {
        let expected: Vec<String> = (0..1000u32)
            .filter(|i| (i % 2) as usize == partition)
            .map(|i| format!("m{i:05}"))
            .collect();
        assert_eq!(
            values.len(),
            expected.len(),
            "partition {partition}: every message exactly once"
        );
        assert_eq!(
            values, &expected,
            "partition {partition}: in order, no duplicates, no gaps"
        );
    }
    // The copier's committed offsets are at the end of the input (500 records per partition).
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "copier")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition("ctp-in", 0);
    list.add_partition("ctp-in", 1);
    let committed = group.committed_offsets(list, T).unwrap();
    for p in 0..2 {
        assert_eq!(
            committed.find_partition("ctp-in", p).unwrap().offset(),
            rdkafka::Offset::Offset(500),
            "partition {p}: committed offset"
        );
    }
}

/// A `copier.py` process, with its output watched from a thread so that every wait is bounded.
struct Copier {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: tempfile::NamedTempFile,
}

impl Copier {
    fn start(python: &std::path::Path, script: &std::path::Path, bootstrap: &str) -> Self {
        use std::process::{Command, Stdio};
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(python)
            .arg(script)
            .args([
                "--bootstrap",
                bootstrap,
                "--input",
                "ctp-in",
                "--output",
                "ctp-out",
            ])
            .args(["--group", "copier", "--transactional-id", "copier-1"])
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .expect("copier");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in
                std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Waits (at most 90 s) for `n` committed transactions.
    fn wait_commits(&mut self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut commits = 0;
        while commits < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("copied") => commits += 1,
                Ok(_) => {}
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "the copier made {commits} of {n} commits; stderr:\n{}",
                        self.stderr()
                    );
                }
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (at most 150 s; the script stops itself within 120 s) for the copier to exit.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(150);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("the copier did not stop; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Copier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A producer that begins its next transaction right after EndTxn (as librdkafka and the Java
/// client do) finds the previous one still writing its markers. Its AddPartitionsToTxn is
/// answered once they are written, not with CONCURRENT_TRANSACTIONS, which would cost it a
/// retry backoff (20 ms in librdkafka) per transaction. The two requests are pipelined in one
/// write, so the second always arrives while the first is in progress.
#[test]
fn add_partitions_right_after_end_txn_waits_for_the_markers_instead_of_failing() {
    use semel_e2e::{RawConnection, raw};
    use semel_wire::messages::add_partitions_to_txn_request::{
        AddPartitionsToTxnRequest, AddPartitionsToTxnTopic,
    };
    use semel_wire::messages::describe_transactions_request::DescribeTransactionsRequest;
    use semel_wire::messages::end_txn_request::EndTxnRequest;
    use semel_wire::messages::init_producer_id_request::InitProducerIdRequest;
    use semel_wire::messages::{ApiKey, RequestBody, ResponseBody};

    let broker = Broker::start(&[]);
    let mut conn = RawConnection::connect(broker.addr);
    assert_eq!(raw::create_topic(&mut conn, "settle", 2), 0);
    let id = "settle-tx";
    let Some(ResponseBody::InitProducerId(init)) = raw::call(
        &mut conn,
        RequestBody::InitProducerId(InitProducerIdRequest {
            transactional_id: Some(id.into()),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..InitProducerIdRequest::default()
        }),
        1,
        2,
    ) else {
        panic!("no InitProducerId answer");
    };
    assert_eq!(init.error_code, 0);
    let add = |partition: i32| {
        RequestBody::AddPartitionsToTxn(AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: id.into(),
            v3_and_below_producer_id: init.producer_id,
            v3_and_below_producer_epoch: init.producer_epoch,
            v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                name: "settle".into(),
                partitions: vec![partition],
                ..AddPartitionsToTxnTopic::default()
            }],
            ..AddPartitionsToTxnRequest::default()
        })
    };
    let add_error = |body: Option<ResponseBody>| match body {
        Some(ResponseBody::AddPartitionsToTxn(r)) => {
            r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
        }
        other => panic!("unexpected AddPartitionsToTxn answer: {other:?}"),
    };
    let end = |committed: bool| {
        RequestBody::EndTxn(EndTxnRequest {
            transactional_id: id.into(),
            producer_id: init.producer_id,
            producer_epoch: init.producer_epoch,
            committed,
            ..EndTxnRequest::default()
        })
    };
    for round in 0..5_i32 {
        let (first, second) = (round % 2, (round + 1) % 2);
        assert_eq!(add_error(raw::call(&mut conn, add(first), 1, 10)), 0);
        // EndTxn and the next transaction's first AddPartitionsToTxn, in one write.
        let mut pipelined = Vec::new();
        for (body, correlation_id) in [(end(true), 11), (add(second), 12)] {
            let frame = raw::encode(&body, 1, correlation_id);
            pipelined.extend_from_slice(&i32::try_from(frame.len()).unwrap().to_be_bytes());
            pipelined.extend_from_slice(&frame);
        }
        conn.send_raw(&pipelined);
        match raw::read_response(&mut conn, ApiKey::EndTxn, 1, 11) {
            Some(ResponseBody::EndTxn(r)) => assert_eq!(r.error_code, 0, "round {round}"),
            other => panic!("unexpected EndTxn answer: {other:?}"),
        }
        assert_eq!(
            add_error(raw::read_response(
                &mut conn,
                ApiKey::AddPartitionsToTxn,
                1,
                12
            )),
            0,
            "round {round}: the AddPartitionsToTxn after a commit was refused (51 is \
             CONCURRENT_TRANSACTIONS)"
        );
        // The new transaction holds that partition and ends normally.
        match raw::call(
            &mut conn,
            RequestBody::DescribeTransactions(DescribeTransactionsRequest {
                transactional_ids: vec![id.into()],
                ..DescribeTransactionsRequest::default()
            }),
            0,
            13,
        ) {
            Some(ResponseBody::DescribeTransactions(r)) => {
                let state = &r.transaction_states[0];
                assert_eq!(state.transaction_state, "Ongoing", "round {round}");
                assert_eq!(state.topics[0].partitions, vec![second], "round {round}");
            }
            other => panic!("unexpected DescribeTransactions answer: {other:?}"),
        }
        match raw::call(&mut conn, end(false), 1, 14) {
            Some(ResponseBody::EndTxn(r)) => assert_eq!(r.error_code, 0, "round {round}"),
            other => panic!("unexpected EndTxn answer: {other:?}"),
        }
    }
}
