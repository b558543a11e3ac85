//! The transaction coordinator of this broker: semel-txn's state machine behind a lock, its
//! records persisted in the internal log `<data-dir>/__transaction_state` (flushed before the
//! answer they release), and its markers written to the partitions (and to the consumer
//! offsets) by a marker task, which reports them back once they are durable.
//!
//! After a restart the log is replayed; a transaction caught between PrepareCommit/Abort and
//! its last marker gets its markers again, so it completes.

use crate::broker::Broker;
use crate::store::Store;
use parking_lot::Mutex;
use semel_log::{Log, LogConfig, LogReader};
use semel_txn::{
    Completion, CoordinatorConfig, Effect, TopicPartition, TransactionCoordinator, TransitionId,
    TxnLogRecord, TxnResult, WriteMarkers,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::{error, warn};

/// The topic name of the consumer-offsets "partitions" a transaction adds with
/// AddOffsetsToTxn; a marker for one of them completes the producer's pending offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's `offsets.topic.num.partitions`: groups map to one of these partitions.
const OFFSETS_PARTITIONS: i32 = 50;

/// The offsets partition of a group, as Kafka computes it (Java `String.hashCode`).
pub fn offsets_partition(group_id: &str) -> TopicPartition {
    let mut hash: i32 = 0;
    for unit in group_id.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    // Kafka's Utils.abs: i32::MIN maps to 0.
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    TopicPartition::new(OFFSETS_TOPIC, positive % OFFSETS_PARTITIONS)
}

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransactionsOpenError {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] semel_log::Error),
    /// A record is damaged.
    #[error("damaged transaction-state record at offset {offset}: {message}")]
    Damaged {
        /// Log offset.
        offset: u64,
        /// What is wrong.
        message: String,
    },
}

struct State {
    coordinator: TransactionCoordinator,
    waiting: HashMap<TransitionId, oneshot::Sender<Completion>>,
}

/// The coordinator with its log and tasks.
pub struct Transactions {
    state: Mutex<State>,
    log: Mutex<Log>,
    reader: LogReader,
    persist: mpsc::UnboundedSender<(TransitionId, Vec<u8>)>,
    markers: mpsc::UnboundedSender<WriteMarkers>,
    wake_ticker: Notify,
    /// Counts the transitions that finished (a record durable, markers written): a request
    /// that found its transaction busy waits for the next one and asks again.
    settled: watch::Sender<u64>,
}

impl std::fmt::Debug for Transactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transactions").finish_non_exhaustive()
    }
}

/// A coordinator answer: ready now, or after its record is durable.
pub enum Answer<T> {
    /// Send now.
    Now(T),
    /// Wait for the completion of this transition.
    Later(oneshot::Receiver<Completion>),
}

impl Transactions {
    /// Opens and replays the log. The tasks start with [`Transactions::start`], once the broker
    /// exists (markers need the partitions).
    ///
    /// # Errors
    /// The log cannot be opened or holds a damaged record.
    pub fn open(
        data_dir: &Path,
        config: CoordinatorConfig,
    ) -> Result<(Arc<Self>, TaskQueues), TransactionsOpenError> {
        let log = Log::open(
            data_dir.join("__transaction_state"),
            LogConfig {
                segment_bytes: 64 * 1024 * 1024,
                ..LogConfig::default()
            },
        )?;
        let reader = log.reader();
        let mut records = Vec::new();
        reader.replay(reader.log_start_offset(), |entry| {
            let record = TxnLogRecord::decode(&entry.payload).map_err(|e| {
                TransactionsOpenError::Damaged {
                    offset: entry.base_offset,
                    message: e.to_string(),
                }
            })?;
            records.push(record);
            Ok::<(), TransactionsOpenError>(())
        })?;
        let coordinator = TransactionCoordinator::replay(config, records.iter());
        let (persist, persist_queue) = mpsc::unbounded_channel();
        let (markers, marker_queue) = mpsc::unbounded_channel();
        let this = Arc::new(Self {
            state: Mutex::new(State {
                coordinator,
                waiting: HashMap::new(),
            }),
            log: Mutex::new(log),
            reader,
            persist,
            markers,
            wake_ticker: Notify::new(),
            settled: watch::Sender::new(0),
        });
        Ok((
            this,
            TaskQueues {
                persist: persist_queue,
                markers: marker_queue,
            },
        ))
    }

    /// Starts the persister, the marker writer and the ticker, and emits the markers of any
    /// transaction the last run left half-finished.
    pub fn start(broker: &Arc<Broker>, queues: TaskQueues) {
        let this = Arc::clone(&broker.transactions);
        tokio::spawn(persister(Arc::downgrade(&this), queues.persist));
        tokio::spawn(marker_writer(Arc::downgrade(broker), queues.markers));
        // Transaction timeouts and id expiry.
        tokio::spawn(crate::deadlines::run(
            Arc::downgrade(&this),
            |t: &Transactions| &t.wake_ticker,
            |t: &Transactions| t.state.lock().coordinator.next_deadline_ms(),
            |t: &Transactions, now| {
                let mut state = t.state.lock();
                if state
                    .coordinator
                    .next_deadline_ms()
                    .is_some_and(|d| d <= now)
                {
                    state.coordinator.tick(now);
                    t.drain(&mut state);
                }
            },
        ));
        let mut state = this.state.lock();
        this.drain(&mut state);
    }

    /// Runs a coordinator call and routes what it emits.
    pub fn call<T>(
        &self,
        f: impl FnOnce(&mut TransactionCoordinator) -> semel_txn::Reply<T>,
    ) -> Answer<T> {
        let mut state = self.state.lock();
        let reply = f(&mut state.coordinator);
        let answer = match reply {
            semel_txn::Reply::Ready(r) => Answer::Now(r),
            semel_txn::Reply::AfterPersist(id) => {
                let (tx, rx) = oneshot::channel();
                state.waiting.insert(id, tx);
                Answer::Later(rx)
            }
        };
        self.drain(&mut state);
        drop(state);
        self.wake_ticker.notify_one();
        answer
    }

    /// A receiver that sees a change each time a transition finishes: a record became durable
    /// (or failed to), or a transaction's markers were written. Take it *before* the call whose
    /// answer may be CONCURRENT_TRANSACTIONS, so no finish between the two is missed.
    pub fn watch_settled(&self) -> watch::Receiver<u64> {
        self.settled.subscribe()
    }

    /// Reads the coordinator without changing it.
    pub fn read<R>(&self, f: impl FnOnce(&TransactionCoordinator) -> R) -> R {
        f(&self.state.lock().coordinator)
    }

    /// Hands every pending effect to the persister or the marker writer, in order.
    fn drain(&self, state: &mut State) {
        while let Some(effect) = state.coordinator.poll_effect() {
            match effect {
                Effect::Persist { id, record } => {
                    if self.persist.send((id, record.to_bytes())).is_err() {
                        error!("the transaction persister stopped");
                    }
                }
                Effect::WriteMarkers(markers) => {
                    if self.markers.send(markers).is_err() {
                        error!("the marker writer stopped");
                    }
                }
            }
        }
    }

    fn complete(&self, id: TransitionId, durable: bool) {
        let mut state = self.state.lock();
        let completion = if durable {
            state.coordinator.persisted(id)
        } else {
            state.coordinator.persist_failed(id)
        };
        match completion {
            Ok(completion) => {
                if let Some(tx) = state.waiting.remove(&id) {
                    let _ = tx.send(completion);
                }
            }
            Err(e) => error!(error = %e, "transaction coordinator refused a completion"),
        }
        self.drain(&mut state);
        drop(state);
        self.settled.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn markers_written(&self, markers: &WriteMarkers, written: &[TopicPartition]) {
        let mut state = self.state.lock();
        state
            .coordinator
            .markers_written(crate::now_ms(), markers, written.iter());
        self.drain(&mut state);
        drop(state);
        self.settled.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// The receiving ends of the coordinator's queues, handed to [`Transactions::start`].
pub struct TaskQueues {
    persist: mpsc::UnboundedReceiver<(TransitionId, Vec<u8>)>,
    markers: mpsc::UnboundedReceiver<WriteMarkers>,
}

impl std::fmt::Debug for TaskQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskQueues").finish_non_exhaustive()
    }
}

/// Appends queued records, flushes once, then releases their completions in order.
async fn persister(
    txns: Weak<Transactions>,
    mut queue: mpsc::UnboundedReceiver<(TransitionId, Vec<u8>)>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = queue.try_recv() {
            batch.push(more);
        }
        let Some(this) = txns.upgrade() else { return };
        let mut appended_ok = true;
        {
            let mut log = this.log.lock();
            for (_, record) in &batch {
                if let Err(e) = log.append(record, 1, 0) {
                    error!(error = %e, "cannot persist a transaction record");
                    appended_ok = false;
                    break;
                }
            }
        }
        if appended_ok {
            let reader = this.reader.clone();
            appended_ok = matches!(
                tokio::task::spawn_blocking(move || reader.sync()).await,
                Ok(Ok(()))
            );
            if !appended_ok {
                error!("cannot flush transaction records");
            }
        }
        for (id, _) in batch {
            this.complete(id, appended_ok);
        }
    }
}

/// Writes each transaction's markers to its partitions, waits until they are durable, and
/// reports them to the coordinator.
async fn marker_writer(broker: Weak<Broker>, mut queue: mpsc::UnboundedReceiver<WriteMarkers>) {
    while let Some(markers) = queue.recv().await {
        let Some(broker) = broker.upgrade() else {
            return;
        };
        let commit = markers.result == TxnResult::Commit;
        let mut written = Vec::new();
        let mut waits = Vec::new();
        for tp in markers.partitions.iter() {
            if &*tp.topic == OFFSETS_TOPIC {
                // The group coordinator's pending offsets of this producer: committed or
                // dropped once the marker record is durable.
                if let Some(durable) = broker.groups.complete_txn(markers.producer_id, commit) {
                    waits.push(Wait::Offsets(durable));
                }
                written.push(tp.clone());
                continue;
            }
            match write_partition_marker(
                &broker.store,
                tp,
                markers.producer_id,
                markers.producer_epoch,
                commit,
            ) {
                Ok(Some((partition, end))) => {
                    if broker.config.flush == crate::config::FlushPolicy::Always {
                        broker.flusher.request(&partition);
                    }
                    waits.push(Wait::Partition(partition, end));
                    written.push(tp.clone());
                }
                Ok(None) => written.push(tp.clone()),
                Err(e) => {
                    // Not reported: the coordinator keeps the transaction in Prepare*, and the
                    // markers are emitted again at the next start.
                    error!(topic = %tp.topic, partition = tp.partition, error = %e, "cannot write a transaction marker");
                }
            }
        }
        for wait in waits {
            match wait {
                Wait::Partition(partition, end) => {
                    let mut hw = partition.watch_high_watermark();
                    if hw.wait_for(|&hw| hw >= end).await.is_err() {
                        warn!("partition closed while a marker was being flushed");
                    }
                }
                Wait::Offsets(rx) => {
                    let _ = rx.await;
                }
            }
        }
        broker.transactions.markers_written(&markers, &written);
    }
}

enum Wait {
    Partition(Arc<crate::partition::Partition>, u64),
    Offsets(oneshot::Receiver<()>),
}

/// Appends one marker; `Ok(None)` when the partition is gone or already fenced the epoch.
fn write_partition_marker(
    store: &Store,
    tp: &TopicPartition,
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
) -> Result<Option<(Arc<crate::partition::Partition>, u64)>, crate::partition::AppendError> {
    let Some(topic) = store.topic(&tp.topic) else {
        return Ok(None);
    };
    let Some(partition) = topic.partition(tp.partition) else {
        return Ok(None);
    };
    let end = partition.write_marker(producer_id, producer_epoch, commit, crate::now_ms())?;
    Ok(end.map(|end| (Arc::clone(partition), end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_partitions_follow_kafkas_hash() {
        // Java: Math.abs("test-group".hashCode()) % 50
        let java_hash = |s: &str| {
            s.encode_utf16()
                .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u)))
        };
        for group in ["", "g", "test-group", "consumer-group-ünïcode"] {
            let expected = java_hash(group).checked_abs().unwrap_or(0) % 50;
            assert_eq!(offsets_partition(group).partition, expected);
        }
        assert_eq!(offsets_partition("g").partition, 103 % 50);
    }
}
