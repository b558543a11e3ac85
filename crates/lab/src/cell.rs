//! One cell of the matrix: a fresh broker, a producer and a consumer of one semantics, one
//! fault injected for real, and the ledger counted at the end.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use semel_e2e::{Broker, FaultyProxy, RawConnection};

use crate::Error;
use crate::ledger::{Charge, Ledger, amount_of};
use crate::model::{Exposure, Fault, Semantics, exposure};

const TOPIC: &str = "charges";
/// exactly-once-ctp: the copier's output, which the ledger consumer reads.
const OUTPUT: &str = "ledger-feed";

/// How every cell runs.
#[derive(Debug, Clone)]
pub struct CellConfig {
    /// Messages (uniquely numbered charges) per cell.
    pub messages: u64,
    /// Messages per transaction of the exactly-once producer.
    pub transaction_size: u64,
    /// The lost-acks proxy drops every n-th Produce answer.
    pub cut_every: u64,
    /// A cell that has not finished by then is stopped (and says so).
    pub cell_timeout: Duration,
    /// The consumer stops after this long without a message once the producer is done and it
    /// could not confirm it reached the end of the partition.
    pub idle_timeout: Duration,
    /// The broker's `--flush` policy.
    pub flush: String,
}

impl Default for CellConfig {
    fn default() -> Self {
        Self {
            messages: 2000,
            transaction_size: 100,
            cut_every: 10,
            cell_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(10),
            flush: "always".to_owned(),
        }
    }
}

/// The figures of one cell, all counted from the ledger except where named otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct CellResult {
    /// The delivery semantics.
    pub semantics: Semantics,
    /// The fault injected.
    pub fault: Fault,
    /// Whether the fault can make this semantics lose or duplicate (by design).
    pub exposure: Exposure,
    /// Message ids in the workload (`0..messages`).
    pub messages: u64,
    /// Charge rows in the ledger.
    pub ledger_rows: u64,
    /// Message ids charged at least once.
    pub delivered: u64,
    /// Extra charges (rows beyond the first per message id).
    pub duplicate_count: u64,
    /// Message ids never charged.
    pub lost_count: u64,
    /// `lost_count / messages`.
    pub message_loss_rate: f64,
    /// Rows with an id outside the workload (corruption; must be 0).
    pub foreign_rows: u64,
    /// Produce → ledger apply latency, median (ms).
    pub latency_p50_ms: f64,
    /// Produce → ledger apply latency, 99th percentile (ms).
    pub latency_p99_ms: f64,
    /// Ledger rows per second between the first produce and the last apply.
    pub throughput_rps: f64,
    /// Sum of the ledger's charges (cents).
    pub ledger_total: i64,
    /// Sum of every message's charge once (cents).
    pub expected_total: i64,
    /// Redeliveries the dedup store refused to apply again (exactly-once only).
    pub dedup_skipped: u64,
    /// Messages the consumer received (including redeliveries).
    pub consumed: u64,
    /// Send attempts by the producer application (including its own resends).
    pub sent: u64,
    /// Wall time of the cell (s), broker start to consumer stop.
    pub elapsed_s: f64,
    /// What happened: faults injected, recoveries, anything unusual.
    pub notes: Vec<String>,
    /// Whether the fault really happened (the proxy dropped answers, the crash or the kill
    /// took place); always `true` for [`Fault::None`].
    pub fault_injected: bool,
}

/// A snapshot for the progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Messages handed to the producer client.
    pub sent: u64,
    /// Successful delivery reports.
    pub acked: u64,
    /// Charges applied to the ledger.
    pub applied: u64,
    /// Workload size.
    pub messages: u64,
}

#[derive(Default)]
struct Shared {
    sent: AtomicU64,
    acked: AtomicU64,
    applied: AtomicU64,
    consumed: AtomicU64,
    dedup_skipped: AtomicU64,
    producer_done: AtomicBool,
    /// exactly-once-ctp: the copier has copied everything it will.
    copier_done: AtomicBool,
    consumer_ready: AtomicBool,
    fault_injected: AtomicBool,
    /// broker-kill: the producer killed the broker (the main thread restarts it).
    killed: AtomicBool,
    /// Failed delivery reports by error (the producer application's view).
    delivery_failures: Mutex<std::collections::BTreeMap<String, u64>>,
    stop: AtomicBool,
    /// Per message id: acknowledged by the broker (the producer's own record).
    acked_ids: Mutex<Vec<bool>>,
    notes: Mutex<Vec<String>>,
}

impl Shared {
    fn note(&self, note: String) {
        self.notes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(note);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Runs `f` (harness code that panics on failure) and turns a panic into an error.
fn harness<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, Error> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panic".to_owned());
        Error::Harness(format!("{what}: {message}"))
    })
}

fn kafka(what: &str) -> impl Fn(KafkaError) -> Error + '_ {
    move |e| Error::Client(format!("{what}: {e}"))
}

/// Delivery reports: the producer application's record of what the broker acknowledged.
/// A crashed producer's reports are ignored (`alive` cleared before it is dropped): the
/// process that would have received them is gone.
struct Reports {
    shared: Arc<Shared>,
    alive: Arc<AtomicBool>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if !self.alive.load(Ordering::Relaxed) {
            return;
        }
        let message = match result {
            Ok(message) => message,
            Err((error, _)) => {
                *self
                    .shared
                    .delivery_failures
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .entry(error.to_string())
                    .or_default() += 1;
                return;
            }
        };
        let Some(charge) = message.payload().and_then(Charge::decode) else {
            return;
        };
        let mut acked = self
            .shared
            .acked_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = usize::try_from(charge.message_id)
            .ok()
            .and_then(|i| acked.get_mut(i))
            && !*slot
        {
            *slot = true;
            self.shared.acked.fetch_add(1, Ordering::Relaxed);
        }
    }
}

type LabProducer = ThreadedProducer<Reports>;

/// Waits, up to `limit`, until every message `producer` sent is acknowledged. rdkafka 0.39's
/// `commit_transaction` flushes first, and that flush polls for a whole 100 ms whenever anything
/// is still in flight: committing right after sending costs at least 100 ms per transaction
/// (measured against semel and Tansu alike). Draining by short sleeps first lets the commit go
/// straight to EndTxn.
fn drain(producer: &LabProducer, limit: Duration) {
    let deadline = Instant::now() + limit;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Crashes a producer: its delivery reports stop counting, then librdkafka's handle is
/// destroyed with its queue and in-flight requests purged (rdkafka's drop), nothing flushed.
fn crash(producer: LabProducer) {
    producer.context().alive.store(false, Ordering::Relaxed);
    drop(producer);
}

struct Run<'a> {
    semantics: Semantics,
    fault: Fault,
    config: &'a CellConfig,
    bootstrap: String,
    shared: Arc<Shared>,
    deadline: Instant,
    broker: &'a Mutex<Broker>,
}

impl Run<'_> {
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            // Reconnect quickly after a cut connection or a broker restart.
            .set("reconnect.backoff.ms", "20")
            .set("reconnect.backoff.max.ms", "500")
            .set("log_level", "0");
        config
    }

    fn producer(&self) -> Result<LabProducer, Error> {
        self.producer_as("semel-lab-charges", true)
    }

    /// A producer of this cell's semantics; `transactional_id` is used by the exactly-once
    /// ones, `counted`: whether its delivery reports are the workload's acknowledgements.
    fn producer_as(&self, transactional_id: &str, counted: bool) -> Result<LabProducer, Error> {
        let mut config = self.client_config();
        config
            .set("linger.ms", "5")
            .set("batch.num.messages", "50")
            .set("retry.backoff.ms", "50");
        match self.semantics {
            Semantics::AtMostOnce => {
                config
                    .set("acks", "1")
                    .set("retries", "0")
                    .set("enable.idempotence", "false")
                    .set("message.timeout.ms", "10000");
            }
            Semantics::AtLeastOnce => {
                config
                    .set("acks", "all")
                    .set("retries", "2147483647")
                    .set("enable.idempotence", "false")
                    .set("max.in.flight.requests.per.connection", "5")
                    .set("message.timeout.ms", "30000");
            }
            Semantics::ExactlyOnce | Semantics::ExactlyOnceTransform => {
                config
                    .set("acks", "all")
                    .set("enable.idempotence", "true")
                    .set("transactional.id", transactional_id)
                    .set("transaction.timeout.ms", "60000")
                    .set("message.timeout.ms", "30000");
            }
        }
        config
            .create_with_context(Reports {
                shared: Arc::clone(&self.shared),
                alive: Arc::new(AtomicBool::new(counted)),
            })
            .map_err(kafka("create producer"))
    }

    fn consumer(&self) -> Result<BaseConsumer, Error> {
        self.consumer_of(
            self.sink_topic(),
            &format!("semel-lab-{}", self.semantics.name()),
        )
    }

    /// The topic the ledger consumer reads.
    fn sink_topic(&self) -> &'static str {
        if self.semantics == Semantics::ExactlyOnceTransform {
            OUTPUT
        } else {
            TOPIC
        }
    }

    fn consumer_of(&self, topic: &str, group: &str) -> Result<BaseConsumer, Error> {
        let mut config = self.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "50")
            .set(
                "isolation.level",
                if matches!(
                    self.semantics,
                    Semantics::ExactlyOnce | Semantics::ExactlyOnceTransform
                ) {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            );
        let consumer: BaseConsumer = config.create().map_err(kafka("create consumer"))?;
        // A standalone consumer: the partition is assigned, the position resumes from the
        // group's committed offset.
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, 0, Offset::Stored)
            .map_err(kafka("assignment"))?;
        consumer.assign(&list).map_err(kafka("assign"))?;
        Ok(consumer)
    }

    /// broker-kill: right after handing message `id` over, at a fixed point of the stream (a
    /// little past half, inside a transaction for exactly-once), the producer thread kills the
    /// broker with SIGKILL (whatever is in flight then stays in flight) and goes on sending
    /// into the outage; the main thread restarts the broker.
    fn checkpoint(&self, id: u64) {
        let n = self.config.messages;
        if self.fault != Fault::BrokerKill
            || id != n / 2 + n / 40
            || self.shared.killed.load(Ordering::Relaxed)
        {
            return;
        }
        // Kill while the pipeline flows: some of what was handed over is acknowledged, the
        // rest is queued or in flight.
        let wait_until = Instant::now() + Duration::from_secs(5);
        while self.shared.acked.load(Ordering::Relaxed) < n / 4 && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_micros(200));
        }
        let sent = self.shared.sent.load(Ordering::Relaxed);
        let acked = self.shared.acked.load(Ordering::Relaxed);
        let applied = self.shared.applied.load(Ordering::Relaxed);
        self.broker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .kill9();
        self.shared.killed.store(true, Ordering::Relaxed);
        self.shared.note(format!(
            "broker killed (SIGKILL) with {sent} messages handed to the producer client, {acked} acknowledged, {applied} applied"
        ));
    }

    fn past_deadline(&self) -> bool {
        if Instant::now() >= self.deadline {
            self.shared.stop.store(true, Ordering::Relaxed);
        }
        self.shared.stopped()
    }

    /// Hands one charge to the client, waiting while its queue is full. `Ok(false)`: stopped.
    fn send(&self, producer: &LabProducer, message_id: u64) -> Result<bool, KafkaError> {
        let charge = Charge {
            message_id,
            amount: amount_of(message_id),
            produced_us: now_us(),
        };
        let payload = charge.encode();
        let key = message_id.to_string();
        loop {
            let record = BaseRecord::to(TOPIC)
                .partition(0)
                .key(&key)
                .payload(&payload);
            match producer.send(record) {
                Ok(()) => {
                    self.shared.sent.fetch_add(1, Ordering::Relaxed);
                    self.checkpoint(message_id);
                    return Ok(true);
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if self.past_deadline() {
                        return Ok(false);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    fn flush(&self, producer: &LabProducer) {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if let Err(e) = producer.flush(Timeout::After(left.min(Duration::from_secs(60)))) {
            self.shared.note(format!("producer flush: {e}"));
        }
    }

    fn unacked(&self, below: u64) -> Vec<u64> {
        let acked = self
            .shared
            .acked_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (0..below)
            .filter(|&id| {
                !usize::try_from(id)
                    .ok()
                    .and_then(|i| acked.get(i))
                    .copied()
                    .unwrap_or(false)
            })
            .collect()
    }

    /// At-most-once and at-least-once producers.
    fn produce_plain(&self) -> Result<(), Error> {
        let n = self.config.messages;
        let crash_at = (self.fault == Fault::ProducerCrash).then_some(n / 2);
        let mut producer = self.producer()?;
        let mut send_errors = 0u64;
        for id in 0..n {
            if Some(id) == crash_at {
                // Crash: queue and in-flight requests purged, nothing flushed.
                crash(producer);
                self.shared.fault_injected.store(true, Ordering::Relaxed);
                let acked = self.shared.acked.load(Ordering::Relaxed);
                // What the application knew when it crashed.
                let resend = self.unacked(id);
                producer = self.producer()?;
                if self.semantics == Semantics::AtLeastOnce {
                    // The application resends everything it never saw acknowledged.
                    self.shared.note(format!(
                        "producer crashed after handing {id} messages to librdkafka ({acked} acknowledged); the new producer resent {} unacknowledged",
                        resend.len()
                    ));
                    for old in resend {
                        if !self.send(&producer, old).map_err(kafka("send"))? {
                            return Ok(());
                        }
                    }
                } else {
                    self.shared.note(format!(
                        "producer crashed after handing {id} messages to librdkafka ({acked} acknowledged); the new producer moved on without the other {}",
                        resend.len()
                    ));
                }
            }
            match self.send(&producer, id) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => {
                    send_errors += 1;
                    if send_errors == 1 {
                        self.shared.note(format!("send refused: {e}"));
                    }
                }
            }
        }
        self.flush(&producer);
        if self.semantics == Semantics::AtLeastOnce {
            // Whatever failed (timed out, refused) is sent again until acknowledged.
            let mut rounds = 0;
            loop {
                let resend = self.unacked(n);
                if resend.is_empty() || self.past_deadline() {
                    break;
                }
                rounds += 1;
                self.shared.note(format!(
                    "resend round {rounds}: {} messages never acknowledged",
                    resend.len()
                ));
                for id in resend {
                    if !self.send(&producer, id).map_err(kafka("send"))? {
                        return Ok(());
                    }
                }
                self.flush(&producer);
            }
        }
        Ok(())
    }

    fn init_transactions(&self, producer: &LabProducer) -> Result<(), Error> {
        loop {
            match producer.init_transactions(Timeout::After(Duration::from_secs(20))) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Transaction(e)) if e.is_retriable() && !self.past_deadline() => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(Error::Client(format!("init_transactions: {e}"))),
            }
        }
    }

    fn transactional_producer(&self) -> Result<LabProducer, Error> {
        let producer = self.producer()?;
        self.init_transactions(&producer)?;
        Ok(producer)
    }

    /// The exactly-once producer: transactions of `transaction_size` messages; a failed
    /// transaction is aborted and sent again, a crashed producer is replaced by one with the
    /// same `transactional.id` that resumes after the last committed transaction.
    fn produce_transactional(&self) -> Result<(), Error> {
        let n = self.config.messages;
        let size = self.config.transaction_size.max(1);
        // Halfway through the transaction that holds message n/2.
        let crash_at = (self.fault == Fault::ProducerCrash)
            .then_some(((n / 2) / size * size + size / 2).min(n.saturating_sub(1)));
        let mut producer = self.transactional_producer()?;
        let mut committed = 0u64;
        let mut attempts = 0u64;
        let mut crashed = false;
        let mut commit_ms: Vec<f64> = Vec::new();
        'transactions: while committed < n {
            if self.past_deadline() {
                return Ok(());
            }
            attempts += 1;
            if let Err(e) = producer.begin_transaction() {
                self.shared
                    .note(format!("begin_transaction: {e}; new producer"));
                producer = self.transactional_producer()?;
                continue;
            }
            let end = (committed + size).min(n);
            for id in committed..end {
                if Some(id) == crash_at && !crashed {
                    crashed = true;
                    self.shared.fault_injected.store(true, Ordering::Relaxed);
                    self.shared.note(format!(
                        "producer crashed in the middle of a transaction ({} of its messages sent, {committed} committed before)",
                        id - committed
                    ));
                    // The old producer's reports stop counting; it stays alive as a zombie.
                    producer.context().alive.store(false, Ordering::Relaxed);
                    let zombie = std::mem::replace(&mut producer, self.transactional_producer()?);
                    match zombie.commit_transaction(Timeout::After(Duration::from_secs(10))) {
                        Ok(()) => self.shared.note(
                            "the old producer could still commit after the new one started: NOT fenced".to_owned(),
                        ),
                        Err(e) => self.shared.note(fencing_note("producer", &e)),
                    }
                    crash(zombie);
                    continue 'transactions;
                }
                match self.send(&producer, id) {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    Err(e) => {
                        self.shared
                            .note(format!("send in transaction: {e}; aborting it"));
                        self.abort_or_replace(&mut producer)?;
                        continue 'transactions;
                    }
                }
            }
            loop {
                let commit_started = Instant::now();
                drain(&producer, Duration::from_secs(20));
                match producer.commit_transaction(Timeout::After(Duration::from_secs(20))) {
                    Ok(()) => {
                        commit_ms.push(commit_started.elapsed().as_secs_f64() * 1000.0);
                        committed = end;
                        break;
                    }
                    Err(KafkaError::Transaction(e))
                        if e.is_retriable() && !self.past_deadline() => {}
                    Err(e) => {
                        self.shared.note(format!(
                            "commit_transaction: {e}; aborting and sending again"
                        ));
                        self.abort_or_replace(&mut producer)?;
                        continue 'transactions;
                    }
                }
            }
        }
        commit_ms.sort_by(f64::total_cmp);
        self.shared.note(format!(
            "{} transactions committed; commit_transaction took {:.1} ms (median), {:.1} ms (max)",
            commit_ms.len(),
            percentile(&commit_ms, 50.0),
            percentile(&commit_ms, 100.0)
        ));
        let transactions = n.div_ceil(size);
        if attempts > transactions {
            self.shared.note(format!(
                "{attempts} transactions begun for {transactions} committed"
            ));
        }
        Ok(())
    }

    /// exactly-once-ctp: a copier (consume-transform-produce) that reads the input
    /// `read_committed` and writes each charge to the output topic in a transaction that also
    /// commits the input offset (`send_offsets_to_transaction`).
    fn copier(&self) -> Result<(BaseConsumer, LabProducer), Error> {
        let consumer = self.consumer_of(TOPIC, "semel-lab-copier")?;
        let producer = self.producer_as("semel-lab-copier", false)?;
        self.init_transactions(&producer)?;
        Ok((consumer, producer))
    }

    /// Hands a charge to the copier's producer unchanged (its produce time is the original
    /// one, so latency is end to end). `Ok(false)`: stopped.
    fn forward(&self, producer: &LabProducer, charge: &Charge) -> Result<bool, KafkaError> {
        let payload = charge.encode();
        let key = charge.message_id.to_string();
        loop {
            let record = BaseRecord::to(OUTPUT)
                .partition(0)
                .key(&key)
                .payload(&payload);
            match producer.send(record) {
                Ok(()) => return Ok(true),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if self.past_deadline() {
                        return Ok(false);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// One copier transaction: the chunk to the output, the input offset with it, commit.
    /// `crash`: stop with the transaction open, as a crashed copier would.
    fn copy_chunk(
        &self,
        consumer: &BaseConsumer,
        producer: &LabProducer,
        chunk: &[(i64, Charge)],
        next: i64,
        crash: bool,
    ) -> Result<bool, Error> {
        let failed =
            |what: &'static str| move |e: KafkaError| Error::Client(format!("{what}: {e}"));
        producer
            .begin_transaction()
            .map_err(failed("begin_transaction"))?;
        for (_, charge) in chunk {
            if !self.forward(producer, charge).map_err(failed("send"))? {
                return Ok(false);
            }
        }
        if crash {
            return Ok(false);
        }
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(TOPIC, 0, Offset::Offset(next))
            .map_err(failed("offsets"))?;
        let metadata = consumer.group_metadata().ok_or_else(|| {
            Error::Client("the copier's consumer has no group metadata".to_owned())
        })?;
        producer
            .send_offsets_to_transaction(
                &offsets,
                &metadata,
                Timeout::After(Duration::from_secs(20)),
            )
            .map_err(failed("send_offsets_to_transaction"))?;
        drain(producer, Duration::from_secs(20));
        producer
            .commit_transaction(Timeout::After(Duration::from_secs(20)))
            .map_err(failed("commit_transaction"))?;
        Ok(true)
    }

    /// exactly-once-ctp: runs the copier until the producer is done and the input is copied.
    /// Any failure replaces the copier with a new one (same `transactional.id`: the old one
    /// is fenced and its open transaction aborted) that resumes from the committed input
    /// offset. The consumer-crash fault crashes the copier with a transaction open.
    fn copy(&self) -> Result<(), Error> {
        let result = self.copy_all();
        self.shared.copier_done.store(true, Ordering::Relaxed);
        result
    }

    fn copy_all(&self) -> Result<(), Error> {
        let n = self.config.messages;
        let size = usize::try_from(self.config.transaction_size.max(1)).unwrap_or(100);
        let (mut consumer, mut producer) = self.copier()?;
        let mut crashed = self.fault != Fault::ConsumerCrash;
        let mut idle_since: Option<Instant> = None;
        let mut copied = 0u64;
        let mut replaced = 0u64;
        loop {
            if self.past_deadline() {
                self.shared
                    .note("cell timed out: copier stopped".to_owned());
                return Ok(());
            }
            let chunk = self.poll_chunk_counted(&consumer, size, false);
            let Some(&(last_offset, _)) = chunk.last() else {
                if self.shared.producer_done.load(Ordering::Relaxed) {
                    let idle = *idle_since.get_or_insert_with(Instant::now);
                    if self.caught_up(&consumer, TOPIC)
                        || idle.elapsed() >= self.config.idle_timeout
                    {
                        break;
                    }
                }
                continue;
            };
            idle_since = None;
            let crash = !crashed && copied + chunk.len() as u64 >= n / 2;
            match self.copy_chunk(&consumer, &producer, &chunk, last_offset + 1, crash) {
                Ok(true) => copied += chunk.len() as u64,
                Ok(false) if crash => {
                    crashed = true;
                    self.shared.fault_injected.store(true, Ordering::Relaxed);
                    self.shared.note(format!(
                        "copier crashed with {} charges written in its open transaction, input offset {} not committed",
                        chunk.len(),
                        last_offset + 1
                    ));
                    let (new_consumer, new_producer) = self.copier()?;
                    let zombie = std::mem::replace(&mut producer, new_producer);
                    match zombie.commit_transaction(Timeout::After(Duration::from_secs(10))) {
                        Ok(()) => self.shared.note(
                            "the old copier could still commit after the new one started: NOT fenced".to_owned(),
                        ),
                        Err(e) => self.shared.note(fencing_note("copier", &e)),
                    }
                    drop(zombie);
                    drop(std::mem::replace(&mut consumer, new_consumer));
                }
                Ok(false) => return Ok(()),
                Err(e) => {
                    replaced += 1;
                    if replaced == 1 {
                        self.shared
                            .note(format!("copier transaction failed ({e}); copier replaced"));
                    }
                    drop(producer);
                    drop(consumer);
                    (consumer, producer) = self.copier()?;
                }
            }
        }
        if replaced > 1 {
            self.shared
                .note(format!("copier replaced {replaced} times after errors"));
        }
        Ok(())
    }

    fn abort_or_replace(&self, producer: &mut LabProducer) -> Result<(), Error> {
        match producer.abort_transaction(Timeout::After(Duration::from_secs(20))) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.shared.note(format!(
                    "abort_transaction: {e}; new producer (same transactional.id)"
                ));
                *producer = self.transactional_producer()?;
                Ok(())
            }
        }
    }

    fn produce(&self) -> Result<(), Error> {
        // Latency is produce → apply: start once the consumer is fetching, so the figure is
        // not the consumer's start-up time.
        let wait_until = Instant::now() + Duration::from_secs(10);
        while !self.shared.consumer_ready.load(Ordering::Relaxed) && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_millis(5));
        }
        let result = match self.semantics {
            Semantics::AtMostOnce | Semantics::AtLeastOnce => self.produce_plain(),
            Semantics::ExactlyOnce | Semantics::ExactlyOnceTransform => {
                self.produce_transactional()
            }
        };
        self.shared.producer_done.store(true, Ordering::Relaxed);
        result
    }

    /// Up to `max` messages: waits for the first, then takes what is already there.
    fn poll_chunk(&self, consumer: &BaseConsumer, max: usize) -> Vec<(i64, Charge)> {
        self.poll_chunk_counted(consumer, max, true)
    }

    fn poll_chunk_counted(
        &self,
        consumer: &BaseConsumer,
        max: usize,
        counted: bool,
    ) -> Vec<(i64, Charge)> {
        let mut chunk = Vec::new();
        let mut wait = Duration::from_millis(100);
        while chunk.len() < max {
            match consumer.poll(wait) {
                None => break,
                Some(Err(_)) => {}
                Some(Ok(message)) => {
                    if counted {
                        self.shared.consumed.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(charge) = message.payload().and_then(Charge::decode) {
                        chunk.push((message.offset(), charge));
                    }
                }
            }
            wait = Duration::ZERO;
        }
        chunk
    }

    fn caught_up(&self, consumer: &BaseConsumer, topic: &str) -> bool {
        let Ok(position) = consumer.position() else {
            return false;
        };
        let Some(Offset::Offset(at)) = position.find_partition(topic, 0).map(|p| p.offset()) else {
            return false;
        };
        consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(1))
            .is_ok_and(|(_, high)| at >= high)
    }

    fn commit(&self, consumer: &BaseConsumer, next: i64) -> Result<(), KafkaError> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(self.sink_topic(), 0, Offset::Offset(next))?;
        consumer.commit(&list, CommitMode::Sync)
    }

    fn apply(&self, ledger: &mut Ledger, charges: &[Charge]) -> Result<(), Error> {
        let applied = match self.semantics {
            Semantics::ExactlyOnce => {
                let (applied, skipped) = ledger.apply_once(charges, now_us())?;
                self.shared
                    .dedup_skipped
                    .fetch_add(skipped, Ordering::Relaxed);
                applied
            }
            // The copier's output is applied without a dedup check: whatever the broker's
            // transactions let through twice is counted twice.
            Semantics::AtMostOnce | Semantics::AtLeastOnce | Semantics::ExactlyOnceTransform => {
                ledger.apply_all(charges, now_us())?
            }
        };
        self.shared.applied.fetch_add(applied, Ordering::Relaxed);
        Ok(())
    }

    /// The consumer: poll a chunk, then commit-then-apply (at-most-once) or apply-then-commit
    /// (the others). The consumer-crash fault drops it between its two steps once.
    fn consume(&self, ledger: &mut Ledger) -> Result<(), Error> {
        let n = self.config.messages;
        let topic = self.sink_topic();
        let mut consumer = self.consumer()?;
        // Connected and positioned: the first poll resolves the committed offset.
        let _ = consumer.fetch_watermarks(topic, 0, Duration::from_secs(5));
        let _ = consumer.poll(Duration::from_millis(200));
        self.shared.consumer_ready.store(true, Ordering::Relaxed);
        // exactly-once-ctp: the crash hits the copier (the consume-transform-produce step).
        let mut crashed =
            self.fault != Fault::ConsumerCrash || self.semantics == Semantics::ExactlyOnceTransform;
        let upstream_done = if self.semantics == Semantics::ExactlyOnceTransform {
            &self.shared.copier_done
        } else {
            &self.shared.producer_done
        };
        let mut idle_since: Option<Instant> = None;
        let mut commit_failures = 0u64;
        let mut dropped = 0u64;
        loop {
            if self.past_deadline() {
                self.shared
                    .note("cell timed out: consumer stopped".to_owned());
                break;
            }
            let chunk = self.poll_chunk(&consumer, 200);
            let Some(&(last_offset, _)) = chunk.last() else {
                if upstream_done.load(Ordering::Relaxed) {
                    let idle = *idle_since.get_or_insert_with(Instant::now);
                    if self.caught_up(&consumer, topic)
                        || idle.elapsed() >= self.config.idle_timeout
                    {
                        break;
                    }
                }
                continue;
            };
            idle_since = None;
            let charges: Vec<Charge> = chunk.iter().map(|&(_, c)| c).collect();
            let next = last_offset + 1;
            let applied = self.shared.applied.load(Ordering::Relaxed);
            let crash_now = !crashed && applied + charges.len() as u64 >= n / 2;
            match self.semantics {
                Semantics::AtMostOnce => {
                    let committed = self.commit(&consumer, next);
                    if crash_now {
                        crashed = true;
                        self.shared.fault_injected.store(true, Ordering::Relaxed);
                        self.shared.note(format!(
                            "consumer crashed after committing offset {next}, before applying {} messages",
                            charges.len()
                        ));
                        drop(consumer);
                        consumer = self.consumer()?;
                        continue;
                    }
                    if let Err(e) = &committed
                        && commit_failures == 0
                    {
                        self.shared.note(format!("offset commit failed: {e}"));
                    }
                    if committed.is_ok() {
                        self.apply(&mut *ledger, &charges)?;
                    } else {
                        // Applying without the commit could apply twice after a restart.
                        commit_failures += 1;
                        dropped += charges.len() as u64;
                    }
                }
                Semantics::AtLeastOnce
                | Semantics::ExactlyOnce
                | Semantics::ExactlyOnceTransform => {
                    self.apply(&mut *ledger, &charges)?;
                    if crash_now {
                        crashed = true;
                        self.shared.fault_injected.store(true, Ordering::Relaxed);
                        self.shared.note(format!(
                            "consumer crashed after applying {} messages, before committing offset {next}",
                            charges.len()
                        ));
                        drop(consumer);
                        consumer = self.consumer()?;
                        continue;
                    }
                    if let Err(e) = self.commit(&consumer, next) {
                        if commit_failures == 0 {
                            self.shared.note(format!("offset commit failed: {e}"));
                        }
                        commit_failures += 1;
                    }
                }
            }
        }
        if commit_failures > 0 {
            self.shared.note(format!(
                "{commit_failures} offset commits failed{}",
                if dropped > 0 {
                    format!(" ({dropped} messages not applied: at-most-once applies only after a commit)")
                } else {
                    String::new()
                }
            ));
        }
        Ok(())
    }
}

/// What the old (zombie) producer's failed commit says: fenced, or failed for another reason.
fn fencing_note(who: &str, error: &KafkaError) -> String {
    let text = error.to_string();
    if text.to_ascii_lowercase().contains("fenced") {
        format!("the old {who} is fenced: its commit failed ({text})")
    } else {
        format!("the old {who}'s commit failed, but not as fenced ({text})")
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs one cell: starts a broker (behind the fault proxy for lost acks), creates the topic,
/// runs producer and consumer concurrently while injecting `fault`, then counts the ledger.
/// `progress` is called about ten times a second.
///
/// # Errors
/// The broker or a client cannot be started, or the ledger cannot be written or read.
pub fn run_cell(
    semantics: Semantics,
    fault: Fault,
    config: &CellConfig,
    work_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<CellResult, Error> {
    let started = Instant::now();
    let proxy = if fault == Fault::LostAcks {
        Some(harness("start the fault proxy", || {
            FaultyProxy::start(config.cut_every.max(1))
        })?)
    } else {
        None
    };
    let advertised = proxy.as_ref().map(|p| p.addr.to_string());
    let flush = config.flush.as_str();
    let mut args = vec!["--flush", flush];
    if let Some(addr) = &advertised {
        args.extend(["--advertised-addr", addr.as_str()]);
    }
    let broker = harness("start semel", || Broker::start(&args))?;
    if let Some(proxy) = &proxy {
        proxy.set_target(broker.addr);
    }
    let mut topics = vec![TOPIC];
    if semantics == Semantics::ExactlyOnceTransform {
        topics.push(OUTPUT);
    }
    for topic in topics {
        let code = harness("create the topic", || {
            semel_e2e::raw::create_topic(&mut RawConnection::connect(broker.addr), topic, 1)
        })?;
        if code != 0 {
            return Err(Error::Harness(format!(
                "CreateTopics {topic} answered error {code}"
            )));
        }
    }
    let mut ledger = Ledger::open(&work_dir.join(format!("ledger-{semantics}-{fault}.db")))?;
    let shared = Arc::new(Shared::default());
    *shared
        .acked_ids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        vec![false; usize::try_from(config.messages).unwrap_or(0)];
    let bootstrap = advertised.unwrap_or_else(|| broker.bootstrap());
    let locked_broker = Mutex::new(broker);
    let run = Run {
        semantics,
        fault,
        config,
        bootstrap,
        shared: Arc::clone(&shared),
        deadline: started + config.cell_timeout,
        broker: &locked_broker,
    };
    let mut restarted_once = false;
    let (produced, consumed, copied, restarted) = std::thread::scope(|scope| {
        let producer = scope.spawn(|| run.produce());
        let consumer = scope.spawn(|| run.consume(&mut ledger));
        let copier = scope.spawn(|| {
            if semantics == Semantics::ExactlyOnceTransform {
                run.copy()
            } else {
                Ok(())
            }
        });
        let mut restarted = Ok(());
        while !(producer.is_finished() && consumer.is_finished() && copier.is_finished()) {
            let acked = shared.acked.load(Ordering::Relaxed);
            if !restarted_once && shared.killed.load(Ordering::Relaxed) {
                restarted_once = true;
                let at = Instant::now();
                restarted = harness("restart semel", || {
                    locked_broker
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .restart();
                });
                shared.note(format!(
                    "broker restarted on the same port and data directory in {} ms",
                    at.elapsed().as_millis()
                ));
                if restarted.is_err() {
                    shared.stop.store(true, Ordering::Relaxed);
                }
            }
            run.past_deadline();
            progress(Progress {
                sent: shared.sent.load(Ordering::Relaxed),
                acked,
                applied: shared.applied.load(Ordering::Relaxed),
                messages: config.messages,
            });
            std::thread::sleep(Duration::from_millis(20));
        }
        let join = |r: std::thread::Result<Result<(), Error>>, who: &str| {
            r.unwrap_or_else(|_| Err(Error::Harness(format!("the {who} thread panicked"))))
        };
        (
            join(producer.join(), "producer"),
            join(consumer.join(), "consumer"),
            join(copier.join(), "copier"),
            restarted,
        )
    });
    restarted?;
    copied?;
    if restarted_once {
        shared.fault_injected.store(true, Ordering::Relaxed);
    }
    produced?;
    consumed?;
    let elapsed_s = started.elapsed().as_secs_f64();
    drop(locked_broker);
    if let Some(proxy) = &proxy {
        if proxy.dropped.load(Ordering::Relaxed) > 0 {
            shared.fault_injected.store(true, Ordering::Relaxed);
        }
        shared.note(format!(
            "proxy dropped {} produce answers",
            proxy.dropped.load(Ordering::Relaxed)
        ));
    }
    let counts = ledger.counts(config.messages)?;
    let expected_total = (0..config.messages).map(amount_of).sum();
    let throughput_rps = counts.span_us.map_or(0.0, |(first, last)| {
        counts.rows as f64 / ((last - first).max(1) as f64 / 1e6)
    });
    for (error, count) in shared
        .delivery_failures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        shared.note(format!("{count} delivery reports failed: {error}"));
    }
    let notes = shared
        .notes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(CellResult {
        semantics,
        fault,
        exposure: exposure(semantics, fault),
        messages: config.messages,
        ledger_rows: counts.rows,
        delivered: counts.distinct,
        duplicate_count: counts.duplicates,
        lost_count: counts.lost,
        message_loss_rate: if config.messages == 0 {
            0.0
        } else {
            counts.lost as f64 / config.messages as f64
        },
        foreign_rows: counts.foreign,
        latency_p50_ms: percentile(&counts.latencies_ms, 50.0),
        latency_p99_ms: percentile(&counts.latencies_ms, 99.0),
        throughput_rps,
        ledger_total: counts.total,
        expected_total,
        dedup_skipped: shared.dedup_skipped.load(Ordering::Relaxed),
        consumed: shared.consumed.load(Ordering::Relaxed),
        sent: shared.sent.load(Ordering::Relaxed),
        elapsed_s,
        notes,
        fault_injected: fault == Fault::None || shared.fault_injected.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
