//! librdkafka (the C client behind confluent-kafka, kcat and the `rdkafka` crate) against
//! the broker.

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::util::Timeout;
use semel_e2e::Broker;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn config(broker: &Broker) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", broker.bootstrap());
    config
}

/// Creates a topic through librdkafka's admin API (CreateTopics).
fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = config(broker).create().unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let runtime = futures_lite_block_on(admin.create_topics([&topic], &AdminOptions::new()));
    let results = runtime.expect("CreateTopics");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

/// A tiny executor for the admin futures (they complete on librdkafka's own thread).
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        assert!(Instant::now() < deadline, "admin request did not complete");
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Produces `count` numbered messages and returns how many were acknowledged without error.
fn produce(broker: &Broker, topic: &str, count: u64, settings: &[(&str, &str)]) -> u64 {
    let mut config = config(broker);
    config.set("linger.ms", "5");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = config.create().unwrap();
    for i in 0..count {
        let payload = format!("v{i}");
        let key = format!("k{}", i % 5);
        send_waiting(&producer, BaseRecord::to(topic).payload(&payload).key(&key));
    }
    producer
        .flush(Timeout::After(Duration::from_secs(60)))
        .expect("flush");
    count
}

/// Sends `record`, waiting while the producer's local queue is full; any other error fails
/// the test.
fn send_waiting<C, K, P>(producer: &ThreadedProducer<C>, mut record: BaseRecord<'_, K, P>)
where
    C: rdkafka::producer::ProducerContext<DeliveryOpaque = ()> + 'static,
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((e, back)) => {
                assert!(
                    matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ),
                    "{e}"
                );
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Reads every partition of `topic` from the beginning until `expected` messages arrived (or
/// 30 s passed); returns per partition `(offset, value number)` in read order.
fn consume_all(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> BTreeMap<i32, Vec<(i64, u64)>> {
    let consumer: BaseConsumer = config(broker)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut out: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < expected && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("consume");
            let value = std::str::from_utf8(message.payload().unwrap()).unwrap();
            let n: u64 = value.trim_start_matches('v').parse().unwrap();
            out.entry(message.partition())
                .or_default()
                .push((message.offset(), n));
            seen += 1;
        }
    }
    out
}

fn check(out: &BTreeMap<i32, Vec<(i64, u64)>>, count: u64) {
    let mut all: Vec<u64> = out.values().flatten().map(|&(_, v)| v).collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..count).collect::<Vec<_>>(),
        "every message exactly once"
    );
    for (partition, records) in out {
        for (i, (offset, _)) in records.iter().enumerate() {
            assert_eq!(
                *offset, i as i64,
                "partition {partition}: dense offsets from 0"
            );
        }
        assert!(
            records.windows(2).all(|w| w[0].1 < w[1].1),
            "partition {partition}: send order"
        );
    }
}

fn round_trip(acks: &str, flush: &str, extra: &[(&str, &str)]) {
    let broker = Broker::start(&["--flush", flush]);
    let topic = format!("rd-{}-{}", acks.replace('-', "m"), extra.len());
    create_topic(&broker, &topic, 4);
    let mut settings = vec![("acks", acks)];
    settings.extend_from_slice(extra);
    let count = produce(&broker, &topic, 5000, &settings);
    let out = consume_all(&broker, &topic, 4, count as usize);
    check(&out, count);
}

#[test]
fn librdkafka_acks_all_round_trip_with_flush_always() {
    round_trip("all", "always", &[]);
}

#[test]
fn librdkafka_acks_1_round_trip() {
    round_trip("1", "interval:20", &[]);
}

#[test]
fn librdkafka_acks_0_round_trip() {
    round_trip("0", "os", &[]);
}

/// Under `--flush always` (the default) the high watermark is the flushed offset, so writes
/// that do not wait for a flush (acks 0 and 1) must still get one to become readable.
#[test]
fn librdkafka_acks_1_and_0_are_readable_under_flush_always() {
    round_trip("1", "always", &[]);
    round_trip("0", "always", &[]);
}

#[test]
fn librdkafka_idempotent_producer_round_trip() {
    round_trip("all", "always", &[("enable.idempotence", "true")]);
}

#[test]
fn librdkafka_offsets_for_times_finds_the_first_message_at_or_after_a_timestamp() {
    let broker = Broker::start(&[]);
    create_topic(&broker, "times", 1);
    let producer: ThreadedProducer<DefaultProducerContext> =
        config(&broker).set("linger.ms", "0").create().unwrap();
    for (i, ts) in [1_000_000i64, 2_000_000, 3_000_000, 4_000_000]
        .iter()
        .enumerate()
    {
        let payload = format!("v{i}");
        producer
            .send(
                BaseRecord::<(), _>::to("times")
                    .payload(&payload)
                    .timestamp(*ts),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        // One batch per message, so the lookup has batches to search.
        producer
            .flush(Timeout::After(Duration::from_secs(30)))
            .unwrap();
    }
    let consumer: BaseConsumer = config(&broker).set("group.id", "times").create().unwrap();
    for (ts, expected) in [(0i64, 0i64), (1_000_000, 0), (2_500_000, 2), (4_000_000, 3)] {
        let mut query = TopicPartitionList::new();
        query
            .add_partition_offset("times", 0, rdkafka::Offset::Offset(ts))
            .unwrap();
        let found = consumer
            .offsets_for_times(query, Duration::from_secs(30))
            .unwrap();
        let offset = found.find_partition("times", 0).unwrap().offset();
        assert_eq!(offset, rdkafka::Offset::Offset(expected), "timestamp {ts}");
    }
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset("times", 0, rdkafka::Offset::Offset(9_000_000))
        .unwrap();
    let found = consumer
        .offsets_for_times(query, Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        found.find_partition("times", 0).unwrap().offset(),
        rdkafka::Offset::End,
        "past the last timestamp"
    );
}

#[test]
fn librdkafka_admin_deletes_a_topic_and_its_data() {
    let broker = Broker::start(&[]);
    create_topic(&broker, "gone", 2);
    produce(&broker, "gone", 10, &[]);
    let admin: AdminClient<DefaultClientContext> = config(&broker).create().unwrap();
    let results =
        futures_lite_block_on(admin.delete_topics(&["gone"], &AdminOptions::new())).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .unwrap();
    assert!(metadata.topics().iter().all(|t| t.name() != "gone"));
    // Created again: empty.
    create_topic(&broker, "gone", 1);
    let out = consume_all(&broker, "gone", 1, 1);
    assert!(out.is_empty(), "{out:?}");
}

/// DeleteRecords through librdkafka's admin API moves the log start offset: consumers from
/// the beginning start there, the low watermark survives a kill -9, an offset past the high
/// watermark is refused, and `Offset::End` deletes everything.
#[test]
fn librdkafka_delete_records_moves_the_log_start_durably() {
    let mut broker = Broker::start(&[]);
    create_topic(&broker, "trim", 1);
    produce(&broker, "trim", 100, &[("linger.ms", "0")]);
    let delete = |broker: &Broker, offset: rdkafka::Offset| {
        let admin: AdminClient<DefaultClientContext> = config(broker).create().unwrap();
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("trim", 0, offset).unwrap();
        let out = futures_lite_block_on(admin.delete_records(&list, &AdminOptions::new()))
            .expect("DeleteRecords");
        let p = out.find_partition("trim", 0).unwrap();
        (p.offset(), p.error())
    };
    let watermarks = |broker: &Broker| {
        let consumer: BaseConsumer = config(broker).set("group.id", "wm").create().unwrap();
        consumer
            .fetch_watermarks("trim", 0, Duration::from_secs(30))
            .unwrap()
    };
    assert_eq!(
        delete(&broker, rdkafka::Offset::Offset(40)),
        (rdkafka::Offset::Offset(40), Ok(()))
    );
    assert_eq!(watermarks(&broker), (40, 100));
    let out = consume_all(&broker, "trim", 1, 60);
    let values: Vec<u64> = out[&0].iter().map(|&(_, v)| v).collect();
    assert_eq!(values, (40..100).collect::<Vec<u64>>());
    let (_, refused) = delete(&broker, rdkafka::Offset::Offset(101));
    assert!(refused.is_err(), "beyond the high watermark: {refused:?}");
    broker.kill9();
    broker.restart();
    assert_eq!(watermarks(&broker), (40, 100));
    assert_eq!(
        delete(&broker, rdkafka::Offset::End),
        (rdkafka::Offset::Offset(100), Ok(()))
    );
    assert_eq!(watermarks(&broker), (100, 100));
}

/// A librdkafka group consumer (subscribe, commit after processing) reads everything; after a
/// kill -9 and restart of the broker, a new member of the group resumes from the committed
/// offsets (group and offsets are rebuilt from the broker's log).
#[test]
fn librdkafka_group_commits_survive_a_broker_kill_9() {
    let mut broker = Broker::start(&["--flush", "always"]);
    create_topic(&broker, "rdgroup", 3);
    produce(&broker, "rdgroup", 600, &[("acks", "all")]);
    let read = |broker: &Broker, expected: usize| -> Vec<u64> {
        let consumer: BaseConsumer = config(broker)
            .set("group.id", "rd")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .create()
            .unwrap();
        consumer.subscribe(&["rdgroup"]).unwrap();
        let mut values = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while values.len() < expected && Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let message = message.expect("consume");
                let value = std::str::from_utf8(message.payload().unwrap()).unwrap();
                values.push(value.trim_start_matches('v').parse().unwrap());
                consumer
                    .commit_message(&message, rdkafka::consumer::CommitMode::Sync)
                    .expect("commit");
            }
        }
        values.sort_unstable();
        values
    };
    assert_eq!(read(&broker, 600), (0..600).collect::<Vec<_>>());
    broker.kill9();
    broker.restart();
    produce(&broker, "rdgroup", 100, &[("acks", "all")]);
    assert_eq!(
        read(&broker, 100),
        (0..100).collect::<Vec<_>>(),
        "resumed after the committed offsets"
    );
}

/// Idempotence under lost acknowledgements: a proxy drops every 10th Produce answer and cuts the
/// connection; librdkafka's idempotent producer retries; every message is stored exactly once,
/// in order.
#[test]
fn librdkafka_idempotent_retries_after_lost_acks_store_each_message_once_in_order() {
    let proxy = semel_e2e::FaultyProxy::start(10);
    let advertised = proxy.addr.to_string();
    let broker = Broker::start(&["--flush", "always", "--advertised-addr", &advertised]);
    proxy.set_target(broker.addr);
    let through_proxy = |config: &mut ClientConfig| {
        config.set("bootstrap.servers", advertised.clone());
    };
    let mut admin_config = ClientConfig::new();
    through_proxy(&mut admin_config);
    let admin: AdminClient<DefaultClientContext> = admin_config.create().unwrap();
    let topic = NewTopic::new("lossy", 1, TopicReplication::Fixed(1));
    let created =
        futures_lite_block_on(admin.create_topics([&topic], &AdminOptions::new())).unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let mut config = ClientConfig::new();
    through_proxy(&mut config);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("batch.num.messages", "50")
        .set("message.timeout.ms", "120000")
        // Reconnect quickly after each cut connection (the default backoff grows to 10 s).
        .set("reconnect.backoff.max.ms", "500");
    let producer: ThreadedProducer<DeliveryErrors> = config
        .create_with_context(DeliveryErrors::default())
        .unwrap();
    let count = 3000u64;
    for i in 0..count {
        let payload = format!("v{i}");
        send_waiting(
            &producer,
            BaseRecord::<(), _>::to("lossy")
                .partition(0)
                .payload(&payload),
        );
    }
    producer
        .flush(Timeout::After(Duration::from_secs(120)))
        .expect("flush");
    let errors = producer.context().0.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} delivery errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(
        proxy.dropped.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the proxy dropped answers"
    );
    // Read back straight from the broker.
    let out = consume_all(&broker, "lossy", 1, count as usize);
    let values: Vec<u64> = out
        .get(&0)
        .map(|v| v.iter().map(|&(_, n)| n).collect())
        .unwrap_or_default();
    let expected: Vec<u64> = (0..count).collect();
    let first_difference = values.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(
        values == expected,
        "exactly one copy of each message, in order: got {} values, first difference at {first_difference:?}",
        values.len()
    );
}

/// Delivery reports that failed, kept so a test can say what went wrong.
#[derive(Default)]
struct DeliveryErrors(std::sync::Mutex<Vec<String>>);

impl rdkafka::ClientContext for DeliveryErrors {}

impl rdkafka::producer::ProducerContext for DeliveryErrors {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((error, _)) = result {
            self.0.lock().unwrap().push(error.to_string());
        }
    }
}

/// A consumer far behind the page-cache window reads everything back. With a 1 MiB window and
/// 4 MiB segments, the 24 MiB produced here leave the page cache as they are flushed (sealed
/// segments whole); the fetches from the beginning then read them from disk.
#[test]
fn librdkafka_reads_back_data_the_broker_dropped_from_the_page_cache() {
    const COUNT: u64 = 24 * 1024;
    const SIZE: usize = 1024;
    let payload = |i: u64| {
        let mut p = format!("v{i}:").into_bytes();
        let fill = b'a' + u8::try_from(i % 26).unwrap_or(0);
        p.resize(SIZE, fill);
        p
    };
    let broker = Broker::start(&[
        "--page-cache-window-bytes",
        "1048576",
        "--segment-bytes",
        "4194304",
    ]);
    create_topic(&broker, "window", 1);
    let producer: ThreadedProducer<DefaultProducerContext> = config(&broker)
        .set("linger.ms", "5")
        .set("acks", "all")
        .create()
        .unwrap();
    for i in 0..COUNT {
        let value = payload(i);
        send_waiting(
            &producer,
            BaseRecord::<(), _>::to("window")
                .partition(0)
                .payload(&value),
        );
    }
    producer
        .flush(Timeout::After(Duration::from_secs(60)))
        .expect("flush");
    let segments = std::fs::read_dir(broker.data_dir().join("topics"))
        .unwrap()
        .flatten()
        .filter(|t| t.file_name().to_string_lossy().starts_with("window."))
        .flat_map(|t| std::fs::read_dir(t.path().join("0")).unwrap().flatten())
        .filter(|f| f.file_name().to_string_lossy().ends_with(".log"))
        .count();
    assert!(segments >= 5, "the partition rolled ({segments} segments)");

    let consumer: BaseConsumer = config(&broker)
        .set("group.id", "unused-assign-only")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset("window", 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 0u64;
    while next < COUNT && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("consume");
            assert_eq!(message.offset(), i64::try_from(next).unwrap());
            assert!(
                message.payload() == Some(payload(next).as_slice()),
                "message {next} reads back unchanged"
            );
            next += 1;
        }
    }
    assert_eq!(next, COUNT, "every message read back");
}
