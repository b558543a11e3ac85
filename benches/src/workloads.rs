//! The load: librdkafka producers and consumers (the `rdkafka` crate, one build for every
//! target), topic creation through the admin API, and the produce→consume latency probe.

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

const T: Timeout = Timeout::After(Duration::from_secs(60));

/// A produce workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Produce {
    /// acks=1.
    Acks1,
    /// acks=all.
    AcksAll,
    /// `enable.idempotence=true` (acks=all, at most 5 requests in flight).
    Idempotent,
    /// A transactional producer committing every `commit_every_ms`.
    Transactional {
        /// Milliseconds between commits.
        commit_every_ms: u64,
    },
}

/// A workload of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Workload {
    /// Produce as fast as one producer can.
    Produce(Produce),
    /// Two producers at once, each as fast as it can (for transactions: two transactional
    /// ids, so one's commit overlaps the other's sends, as with several application threads).
    TwoProducers(Produce),
    /// Produce acks=all, then consume everything from the start (only the consume is timed).
    ConsumeFromStart,
}

impl Workload {
    /// Every workload, in report order.
    pub(crate) const ALL: [Workload; 8] = [
        Workload::Produce(Produce::Acks1),
        Workload::Produce(Produce::AcksAll),
        Workload::Produce(Produce::Idempotent),
        Workload::Produce(Produce::Transactional {
            commit_every_ms: 100,
        }),
        Workload::Produce(Produce::Transactional {
            commit_every_ms: 10,
        }),
        Workload::TwoProducers(Produce::AcksAll),
        Workload::TwoProducers(Produce::Transactional {
            commit_every_ms: 100,
        }),
        Workload::ConsumeFromStart,
    ];

    /// Human name (also the JSON key).
    pub(crate) fn name(self) -> String {
        match self {
            Workload::Produce(Produce::Acks1) => "produce acks=1".into(),
            Workload::Produce(Produce::AcksAll) => "produce acks=all".into(),
            Workload::Produce(Produce::Idempotent) => "produce idempotent".into(),
            Workload::Produce(Produce::Transactional { commit_every_ms }) => {
                format!("produce transactional, commit every {commit_every_ms} ms")
            }
            Workload::TwoProducers(mode) => {
                format!("2 producers, {}", Workload::Produce(mode).name())
            }
            Workload::ConsumeFromStart => "consume from the start".into(),
        }
    }

    /// How many producers send at once.
    pub(crate) fn producers(self) -> usize {
        match self {
            Workload::TwoProducers(_) => 2,
            Workload::Produce(_) | Workload::ConsumeFromStart => 1,
        }
    }

    /// File-name friendly name.
    pub(crate) fn slug(self) -> String {
        match self {
            Workload::Produce(Produce::Acks1) => "produce-acks1".into(),
            Workload::Produce(Produce::AcksAll) => "produce-acksall".into(),
            Workload::Produce(Produce::Idempotent) => "produce-idempotent".into(),
            Workload::Produce(Produce::Transactional { commit_every_ms }) => {
                format!("produce-txn-{commit_every_ms}ms")
            }
            Workload::TwoProducers(mode) => format!("{}-x2", Workload::Produce(mode).slug()),
            Workload::ConsumeFromStart => "consume".into(),
        }
    }
}

/// Polls a future on this thread until it is ready (the admin client's futures are completed
/// by its own polling thread, so no runtime is needed).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// Creates `topic` with `partitions` partitions (replication 1) through CreateTopics and waits
/// until metadata shows a leader for every partition.
pub(crate) fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = block_on(admin.create_topics([&new], &options))
        .map_err(|e| format!("CreateTopics {topic}: {e}"))?;
    for result in results {
        result.map_err(|(name, code)| format!("CreateTopics {name}: {code}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map_err(|e| format!("metadata {topic}: {e}"))?;
        let ready = metadata.topics().iter().any(|t| {
            t.name() == topic
                && t.error().is_none()
                && t.partitions().len() == usize::try_from(partitions).unwrap_or(0)
                && t.partitions().iter().all(|p| p.leader() >= 0)
        });
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{topic} has no leaders 30 s after CreateTopics"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Counts delivery reports (librdkafka's default context drops failures silently).
#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// For the latency probe: the clock the payloads' send times are read against, and
    /// every acknowledgement latency (ms) of a timed record.
    epoch: Option<Instant>,
    ack_ms: Mutex<Vec<f64>>,
}

/// The producer context sharing [`Deliveries`] with the caller.
#[derive(Clone)]
struct Counting(Arc<Deliveries>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let this = &self.0;
        match result {
            Ok(message) => {
                this.ok.fetch_add(1, Ordering::Relaxed);
                if let Some(epoch) = this.epoch
                    && let Some(sent) = message
                        .payload()
                        .and_then(|p| p.get(..8))
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .map(u64::from_le_bytes)
                    && sent != u64::MAX
                {
                    let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    if let Ok(mut acks) = this.ack_ms.lock() {
                        acks.push(now.saturating_sub(sent) as f64 / 1e6);
                    }
                }
            }
            Err((e, _)) => {
                this.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = this.first_error.lock()
                    && first.is_none()
                {
                    *first = Some(e.to_string());
                }
            }
        }
    }
}

/// Waits (in 100 µs steps, bounded by `T`) until every message has been acknowledged and its
/// delivery report served by the producer's own polling thread.
///
/// The rdkafka crate's `flush` (and `commit_transaction`, which calls it) checks
/// `rd_kafka_flush(0)` and otherwise polls the producer's queue for up to 100 ms; with a
/// `ThreadedProducer` that poll finds nothing (the background thread serves the delivery
/// reports), so every flush took ~100 ms more than needed (measured: 100.0–100.7 ms per flush
/// against semel and Tansu alike). Draining first makes the flush return at once.
fn drain(producer: &ThreadedProducer<Counting>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while producer.in_flight_count() > 0 {
        if Instant::now() > deadline {
            return Err(format!(
                "{} messages still in flight after 60 s",
                producer.in_flight_count()
            ));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}

/// What one produce run achieved.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Throughput {
    /// Records acknowledged.
    pub(crate) records: u64,
    /// Wall time from the first send to the last acknowledgement (or commit).
    pub(crate) seconds: f64,
    /// Of which spent blocked in `commit_transaction` (transactional produce only).
    pub(crate) commit_seconds: f64,
    /// Transactions committed.
    pub(crate) commits: u64,
}

/// The producer settings shared by every produce workload and target.
fn producer_config(bootstrap: &str, mode: Produce, transactional_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "60000")
        .set("acks", if mode == Produce::Acks1 { "1" } else { "all" });
    match mode {
        Produce::Idempotent => {
            config.set("enable.idempotence", "true");
        }
        Produce::Transactional { .. } => {
            config.set("transactional.id", transactional_id);
        }
        Produce::Acks1 | Produce::AcksAll => {}
    }
    apply_producer_extra(&mut config);
    config
}

/// Produces up to `records` records of `size` bytes round-robin over `partitions`, stopping
/// early after `max_seconds`; every record must be acknowledged. With several `producers`
/// they run at once, each with its share of `records` and its own transactional id; the
/// result sums their records and commits and lasts as long as the slowest.
#[allow(clippy::too_many_arguments)]
pub(crate) fn produce(
    bootstrap: &str,
    mode: Produce,
    topic: &str,
    partitions: i32,
    records: u64,
    size: usize,
    max_seconds: f64,
    producers: usize,
) -> Result<Throughput, String> {
    let share = records / u64::try_from(producers.max(1)).unwrap_or(1);
    let results: Vec<Result<Throughput, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..producers)
            .map(|i| {
                scope.spawn(move || {
                    let id = if producers == 1 {
                        format!("bench-{topic}")
                    } else {
                        format!("bench-{topic}-{i}")
                    };
                    produce_as(
                        bootstrap,
                        mode,
                        topic,
                        partitions,
                        share,
                        size,
                        max_seconds,
                        &id,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a producer thread panicked".into()))
            })
            .collect()
    });
    let mut total = Throughput {
        records: 0,
        seconds: 0.0,
        commit_seconds: 0.0,
        commits: 0,
    };
    for result in results {
        let one = result?;
        total.records += one.records;
        total.seconds = total.seconds.max(one.seconds);
        total.commit_seconds += one.commit_seconds;
        total.commits += one.commits;
    }
    Ok(total)
}

/// One producer of [`produce`], with the given transactional id (used only by transactional
/// modes).
#[allow(clippy::too_many_arguments)]
fn produce_as(
    bootstrap: &str,
    mode: Produce,
    topic: &str,
    partitions: i32,
    records: u64,
    size: usize,
    max_seconds: f64,
    transactional_id: &str,
) -> Result<Throughput, String> {
    let deliveries = Arc::new(Deliveries::default());
    let producer: ThreadedProducer<Counting> = producer_config(bootstrap, mode, transactional_id)
        .create_with_context(Counting(Arc::clone(&deliveries)))
        .map_err(|e| format!("producer: {e}"))?;
    let commit_every = match mode {
        Produce::Transactional { commit_every_ms } => {
            producer
                .init_transactions(T)
                .map_err(|e| format!("init_transactions: {e}"))?;
            producer
                .begin_transaction()
                .map_err(|e| format!("begin_transaction: {e}"))?;
            Some(Duration::from_millis(commit_every_ms))
        }
        _ => None,
    };
    let payload = vec![b'x'; size];
    let started = Instant::now();
    let stop_at = started + Duration::from_secs_f64(max_seconds);
    let mut last_commit = started;
    let mut sent = 0_u64;
    let (mut commit_seconds, mut commits) = (0.0_f64, 0_u64);
    'send: while sent < records {
        let partition = i32::try_from(sent % u64::try_from(partitions).unwrap_or(1)).unwrap_or(0);
        let mut record = BaseRecord::<(), _>::to(topic)
            .partition(partition)
            .payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back)) => {
                    if !matches!(
                        e.rdkafka_error_code(),
                        Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                    ) {
                        return Err(format!("send: {e}"));
                    }
                    if Instant::now() > stop_at {
                        break 'send;
                    }
                    record = back;
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
        }
        sent += 1;
        if sent.is_multiple_of(1024) && Instant::now() > stop_at {
            break;
        }
        if let Some(every) = commit_every
            && last_commit.elapsed() >= every
        {
            let commit_started = Instant::now();
            drain(&producer)?;
            producer
                .commit_transaction(T)
                .map_err(|e| format!("commit_transaction: {e}"))?;
            commit_seconds += commit_started.elapsed().as_secs_f64();
            commits += 1;
            producer
                .begin_transaction()
                .map_err(|e| format!("begin_transaction: {e}"))?;
            last_commit = Instant::now();
        }
    }
    if commit_every.is_some() {
        let commit_started = Instant::now();
        drain(&producer)?;
        producer
            .commit_transaction(T)
            .map_err(|e| format!("commit_transaction: {e}"))?;
        commit_seconds += commit_started.elapsed().as_secs_f64();
        commits += 1;
    } else {
        drain(&producer)?;
        producer.flush(T).map_err(|e| format!("flush: {e}"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let ok = deliveries.ok.load(Ordering::Relaxed);
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 || ok != sent {
        let first = deliveries
            .first_error
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        return Err(format!(
            "{sent} sent, {ok} acknowledged, {failed} failed (first: {first})"
        ));
    }
    Ok(Throughput {
        records: ok,
        seconds,
        commit_seconds,
        commits,
    })
}

static CONSUMER_EXTRA: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
static PRODUCER_EXTRA: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Adds a librdkafka setting to every consumer made from now on (`--consumer-set`).
pub(crate) fn consumer_extra(key: &str, value: &str) {
    if let Ok(mut extra) = CONSUMER_EXTRA.lock() {
        extra.push((key.to_owned(), value.to_owned()));
    }
}

/// Adds a librdkafka setting to every producer made from now on (`--producer-set`).
pub(crate) fn producer_extra(key: &str, value: &str) {
    if let Ok(mut extra) = PRODUCER_EXTRA.lock() {
        extra.push((key.to_owned(), value.to_owned()));
    }
}

fn apply_producer_extra(config: &mut ClientConfig) {
    if let Ok(extra) = PRODUCER_EXTRA.lock() {
        for (k, v) in extra.iter() {
            config.set(k, v);
        }
    }
}

/// The consumer settings: large fetches, no auto-commit, read_committed (librdkafka's default).
fn consumer_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.max.bytes", "67108864")
        .set("max.partition.fetch.bytes", "16777216")
        // librdkafka stops fetching a partition for fetch.queue.backoff.ms (1 s) whenever its
        // local queue holds more than queued.min.messages (100 000): one 16 MB fetch of 100 B
        // records is 160 000 messages, so the defaults capped consumption at ~16 MB per second
        // against any broker that fills the fetch (measured: 148 k records/s against semel).
        .set("queued.min.messages", "10000000")
        .set("fetch.queue.backoff.ms", "0")
        .set("queued.max.messages.kbytes", "1048576")
        .set("fetch.wait.max.ms", "100");
    if let Ok(extra) = CONSUMER_EXTRA.lock() {
        for (k, v) in extra.iter() {
            config.set(k, v);
        }
    }
    config
}

/// Reads `records` records from offset 0 of every partition in a tight poll loop (each poll
/// hands over a message librdkafka has already fetched in bulk), or as many as it can in
/// `max_seconds`.
pub(crate) fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
    max_seconds: f64,
) -> Result<Throughput, String> {
    let consumer: BaseConsumer = consumer_config(bootstrap, "bench-consume")
        .create()
        .map_err(|e| format!("consumer: {e}"))?;
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .map_err(|e| format!("assign: {e}"))?;
    }
    consumer.assign(&list).map_err(|e| format!("assign: {e}"))?;
    let started = Instant::now();
    let stop_at = started + Duration::from_secs_f64(max_seconds);
    let mut seen = 0_u64;
    let mut bytes = 0_u64;
    while seen < records && (!seen.is_multiple_of(1024) || Instant::now() < stop_at) {
        // A tight loop: only block (briefly) when the local queue is empty; the clock is read
        // once per 1024 records.
        match consumer.poll(Duration::from_millis(10)) {
            Some(Ok(message)) => {
                seen += 1;
                bytes += message.payload_len() as u64;
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
            None if Instant::now() > stop_at => break,
            None => {}
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // Stopped by time: the rate over the first `max_seconds` from the start still counts.
    if seen == 0 {
        return Err(format!(
            "consumed none of {records} records ({bytes} bytes) in {seconds:.1} s"
        ));
    }
    Ok(Throughput {
        records: seen,
        seconds,
        commit_seconds: 0.0,
        commits: 0,
    })
}

/// Sends `size`-byte records at `rate` per second for `seconds` (acks=all, linger.ms=0) to
/// partition 0 while one consumer reads them; every record carries its send time. Records
/// sent in the first `warmup` seconds are not counted. Returns the produce→consume latencies and the produce→acknowledgement latencies (in ms,
/// sorted): the second splits the first into the produce path and the fetch path.
pub(crate) fn latency(
    bootstrap: &str,
    topic: &str,
    rate: u64,
    seconds: f64,
    warmup: f64,
    size: usize,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let epoch = Instant::now();
    let deliveries = Arc::new(Deliveries {
        epoch: Some(epoch),
        ..Deliveries::default()
    });
    let producer: ThreadedProducer<Counting> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "0")
        .set("acks", "all")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Counting(Arc::clone(&deliveries)))
        .map_err(|e| format!("producer: {e}"))?;
    let mut config = consumer_config(bootstrap, "bench-latency");
    config.set("fetch.min.bytes", "1");
    let consumer: BaseConsumer = config.create().map_err(|e| format!("consumer: {e}"))?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .map_err(|e| format!("assign: {e}"))?;
    consumer.assign(&list).map_err(|e| format!("assign: {e}"))?;
    let total = (rate as f64 * seconds) as u64;
    let to = topic.to_owned();
    let size = size.max(8);
    // Until the consumer has seen a record, the sender sends a probe (send time u64::MAX, not
    // counted) every 10 ms; then the paced phase starts, so connection and metadata set-up is
    // not measured as latency.
    let ready = Arc::new(AtomicU64::new(0));
    let ready_seen = Arc::clone(&ready);
    let sender = std::thread::spawn(move || -> Result<(), String> {
        let mut payload = vec![b'x'; size];
        let give_up = Instant::now() + Duration::from_secs(30);
        while ready_seen.load(Ordering::Acquire) == 0 {
            if Instant::now() > give_up {
                return Err("the consumer saw no probe within 30 s".into());
            }
            payload[..8].copy_from_slice(&u64::MAX.to_le_bytes());
            let record = BaseRecord::<(), _>::to(&to)
                .partition(0)
                .payload(&payload[..]);
            if let Err((e, _)) = producer.send(record) {
                return Err(format!("send: {e}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let start = Instant::now();
        let mut i = 0_u64;
        while i < total {
            // Send every record that is due by now, then sleep a little: a steady rate
            // without one sleep per record.
            let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(total);
            while i < due {
                let sent = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
                payload[..8].copy_from_slice(&sent.to_le_bytes());
                let record = BaseRecord::<(), _>::to(&to)
                    .partition(0)
                    .payload(&payload[..]);
                if let Err((e, _)) = producer.send(record) {
                    return Err(format!("send: {e}"));
                }
                i += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        producer.flush(T).map_err(|e| format!("flush: {e}"))
    });
    let mut warm_from = u64::MAX;
    let mut samples = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut received = 0_u64;
    let mut deadline = Instant::now() + Duration::from_secs(40);
    while received < total && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(10)) {
            Some(Ok(message)) => {
                let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                let sent = message
                    .payload()
                    .and_then(|p| p.get(..8))
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_le_bytes)
                    .ok_or("a record without a timestamp")?;
                if sent == u64::MAX {
                    if warm_from == u64::MAX {
                        warm_from = now + (warmup * 1e9) as u64;
                        deadline = Instant::now() + Duration::from_secs_f64(seconds + 30.0);
                        ready.store(1, Ordering::Release);
                    }
                    continue;
                }
                received += 1;
                if sent >= warm_from {
                    samples.push(now.saturating_sub(sent) as f64 / 1e6);
                }
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
            None => {}
        }
    }
    sender
        .join()
        .map_err(|_| "sender thread panicked".to_owned())??;
    let failed = deliveries.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} records not acknowledged"));
    }
    if received < total {
        return Err(format!(
            "received {received} of {total} records within 30 s"
        ));
    }
    samples.sort_by(f64::total_cmp);
    let mut acks: Vec<f64> = deliveries
        .ack_ms
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    // The same warm-up cut as the end-to-end samples: acknowledgements are in send order.
    let skip = acks.len().saturating_sub(samples.len());
    acks.drain(..skip);
    acks.sort_by(f64::total_cmp);
    Ok((samples, acks))
}
