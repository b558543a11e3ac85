//! The transaction coordinator: one state machine per transactional id (NOTES D.1–D.9).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::{
    ErrorCode, PartitionSet, TopicPartition, TxnError, TxnLogRecord, TxnLogValue, TxnState,
};

/// Kafka's `transaction.max.timeout.ms` default.
pub const DEFAULT_TRANSACTION_MAX_TIMEOUT_MS: i32 = 900_000;
/// Kafka's `transactional.id.expiration.ms` default (7 days).
pub const DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS: i64 = 604_800_000;

/// Epochs at or above this are exhausted: the next InitProducerId rotates the producer id
/// (32767 stays free so an exhausted producer can still be fenced).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

/// Coordinator settings, with Kafka's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// `transaction.max.timeout.ms`: the largest transaction timeout a producer may ask for.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: idle time after which a completed id is forgotten.
    pub transactional_id_expiration_ms: i64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            transaction_max_timeout_ms: DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
            transactional_id_expiration_ms: DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS,
        }
    }
}

/// Where new producer ids come from (the broker's producer id allocator).
///
/// Any `FnMut() -> Option<i64>` is one. `None` means "not available now": InitProducerId then
/// answers `COORDINATOR_LOAD_IN_PROGRESS`, which clients retry.
pub trait ProducerIdSource {
    /// The next unused producer id, or `None` if none can be handed out now.
    fn next_producer_id(&mut self) -> Option<i64>;
}

impl<F: FnMut() -> Option<i64>> ProducerIdSource for F {
    fn next_producer_id(&mut self) -> Option<i64> {
        self()
    }
}

/// Hashes a [`TransitionId`] (a counter, never chosen by a peer) by a multiplication: the
/// pending map is on every request's path, and SipHash would be most of its cost.
#[derive(Debug, Clone, Copy, Default)]
struct TransitionHasher(u64);

impl Hasher for TransitionHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Identifies a state transition waiting to be persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransitionId(pub u64);

/// A response that is either ready now or waits for a record to be persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    /// Send this response now (no state changed).
    Ready(T),
    /// Persist the record of [`Effect::Persist`] with this id, then call
    /// [`TransactionCoordinator::persisted`]; it returns the response.
    AfterPersist(TransitionId),
}

/// The outcome of a commit or an abort, as written in markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxnResult {
    /// COMMIT markers.
    Commit,
    /// ABORT markers.
    Abort,
}

/// Work for the caller, drained with [`TransactionCoordinator::poll_effect`] in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Append `record` to the transaction log durably, then call
    /// [`TransactionCoordinator::persisted`] (or [`TransactionCoordinator::persist_failed`]).
    Persist {
        /// The transition the record belongs to.
        id: TransitionId,
        /// The record.
        record: TxnLogRecord,
    },
    /// Write transaction markers, then report them with
    /// [`TransactionCoordinator::markers_written`].
    WriteMarkers(WriteMarkers),
}

/// "Write a `result` marker for (`producer_id`, `producer_epoch`) to these partitions".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteMarkers {
    /// The transaction's id.
    pub transactional_id: Arc<str>,
    /// Which transaction of that id (see [`TxnLogValue::txn_sequence`]); lets the
    /// coordinator ignore late reports about an earlier transaction.
    pub txn_sequence: u64,
    /// Producer id for the control batches.
    pub producer_id: i64,
    /// Producer epoch for the control batches (the bumped one after a fence).
    pub producer_epoch: i16,
    /// Commit or abort.
    pub result: TxnResult,
    /// Every partition of the transaction, offsets partition included, ascending (shared
    /// with the coordinator's state).
    pub partitions: PartitionSet,
}

/// What [`TransactionCoordinator::markers_written`] did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkersOutcome {
    /// The report is not about a transaction whose markers are outstanding (late or duplicate).
    Ignored,
    /// Recorded; markers for other partitions are still outstanding.
    Progress,
    /// All markers are written; the completion is being persisted under this id.
    Completing(TransitionId),
}

/// InitProducerId's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// Error; see [`ErrorCode::code_for`] for old versions.
    pub error: ErrorCode,
    /// The producer id, -1 on error.
    pub producer_id: i64,
    /// The producer epoch, -1 on error.
    pub producer_epoch: i16,
}

impl InitProducerIdResponse {
    fn error(error: ErrorCode) -> Self {
        Self {
            error,
            producer_id: -1,
            producer_epoch: -1,
        }
    }
}

/// The response a confirmed (or failed) transition answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Answer the InitProducerId that started the transition.
    InitProducerId(InitProducerIdResponse),
    /// Answer the AddPartitionsToTxn: this code for every partition.
    AddPartitions(ErrorCode),
    /// Answer the AddOffsetsToTxn.
    AddOffsets(ErrorCode),
    /// Answer the EndTxn.
    EndTxn(ErrorCode),
    /// The coordinator started this transition itself (timeout, marker completion, expiry):
    /// nobody waits for an answer.
    Internal,
}

/// What DescribeTransactions reports for one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// `None`, or `TransactionalIdNotFound`.
    pub error: ErrorCode,
    /// State name as Kafka spells it.
    pub state: TxnState,
    /// Producer id (-1 if not found).
    pub producer_id: i64,
    /// Producer epoch (-1 if not found).
    pub producer_epoch: i16,
    /// Transaction timeout.
    pub transaction_timeout_ms: i32,
    /// Start of the current transaction, -1 if none.
    pub transaction_start_time_ms: i64,
    /// Partitions of the current transaction, ascending.
    pub partitions: Vec<TopicPartition>,
}

/// One row of ListTransactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTransaction {
    /// The id.
    pub transactional_id: Arc<str>,
    /// Its producer id.
    pub producer_id: i64,
    /// Its state.
    pub state: TxnState,
}

/// Why a transition was started: decides the response once it is persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    InitProducerId,
    /// InitProducerId found an Ongoing transaction: fence + abort, answer 51.
    InitFence,
    AddPartitions,
    AddOffsets,
    EndTxn,
    Internal,
}

#[derive(Debug, Clone)]
struct Pending {
    id: TransitionId,
    cause: Cause,
    /// The new durable value; `None` = tombstone. The emitted record holds a clone (which
    /// shares the partition set).
    target: Option<TxnLogValue>,
}

#[derive(Debug, Clone)]
struct Entry {
    meta: TxnLogValue,
    /// False while the id only exists in memory (created by InitProducerId, not yet persisted).
    durable: bool,
    pending: Option<Pending>,
    /// In PrepareCommit/PrepareAbort: partitions whose marker is not yet reported written.
    /// In PrepareCommit/PrepareAbort: per partition (by rank), whether its marker was
    /// reported written; reused from transaction to transaction.
    marker_flags: Vec<bool>,
    /// How many of `marker_flags` are set.
    markers_done: usize,
}

/// The transaction coordinator: a sans-IO state machine over all transactional ids.
///
/// Driven by `handle_*` calls, [`Self::tick`] and [`Self::markers_written`]; drained with
/// [`Self::poll_effect`]. Every state change is an [`Effect::Persist`] record that must be
/// durable before [`Self::persisted`] releases its response; while it is pending, other
/// requests for that id get `CONCURRENT_TRANSACTIONS`.
///
/// Error codes are the newest versions' (`PRODUCER_FENCED`, `TRANSACTION_ABORTABLE`): the caller
/// down-maps them for old request versions with [`ErrorCode::code_for`]. Checks the caller
/// does before calling in: a null transactional id (the idempotent, non-transactional
/// InitProducerId is the sequencer's), and partitions that do not exist
/// (`UNKNOWN_TOPIC_OR_PARTITION` for them, `OPERATION_NOT_ATTEMPTED` for the rest).
#[derive(Debug, Clone)]
pub struct TransactionCoordinator {
    config: CoordinatorConfig,
    entries: BTreeMap<Arc<str>, Entry>,
    /// Pending transition → its transactional id (only looked up, never iterated).
    pending: HashMap<TransitionId, Arc<str>, BuildHasherDefault<TransitionHasher>>,
    next_transition: u64,
    effects: VecDeque<Effect>,
    /// Reused when a partition set is built.
    scratch: Vec<TopicPartition>,
}

/// `m` with another partition set, without touching the reference count of `m`'s.
fn with_partitions(m: &TxnLogValue, partitions: PartitionSet) -> TxnLogValue {
    TxnLogValue {
        producer_id: m.producer_id,
        previous_producer_id: m.previous_producer_id,
        producer_epoch: m.producer_epoch,
        last_producer_epoch: m.last_producer_epoch,
        transaction_timeout_ms: m.transaction_timeout_ms,
        state: m.state,
        txn_sequence: m.txn_sequence,
        txn_start_timestamp_ms: m.txn_start_timestamp_ms,
        txn_last_update_timestamp_ms: m.txn_last_update_timestamp_ms,
        partitions,
    }
}

fn is_prepare(state: TxnState) -> bool {
    matches!(state, TxnState::PrepareCommit | TxnState::PrepareAbort)
}

fn is_idle(state: TxnState) -> bool {
    matches!(
        state,
        TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
    )
}

impl TransactionCoordinator {
    /// An empty coordinator.
    pub fn new(config: CoordinatorConfig) -> Self {
        Self {
            config,
            entries: BTreeMap::new(),
            pending: HashMap::default(),
            next_transition: 0,
            effects: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// Rebuilds the state from every record persisted so far, in log order.
    ///
    /// Transactions found in PrepareCommit/PrepareAbort get their [`Effect::WriteMarkers`]
    /// again (the markers may or may not have been written before the restart; writing a
    /// marker twice is harmless at the partition).
    pub fn replay<'a>(
        config: CoordinatorConfig,
        records: impl IntoIterator<Item = &'a TxnLogRecord>,
    ) -> Self {
        let mut c = Self::new(config);
        for record in records {
            match &record.value {
                Some(v) => {
                    c.entries.insert(
                        record.transactional_id.clone(),
                        Entry {
                            meta: TxnLogValue::clone(v),
                            durable: true,
                            pending: None,
                            marker_flags: Vec::new(),
                            markers_done: 0,
                        },
                    );
                }
                None => {
                    c.entries.remove(&record.transactional_id);
                }
            }
        }
        let prepared: Vec<Arc<str>> = c
            .entries
            .iter()
            .filter(|(_, e)| is_prepare(e.meta.state))
            .map(|(k, _)| k.clone())
            .collect();
        for id in prepared {
            c.begin_markers(id);
        }
        c
    }

    /// The durable state, one record per transactional id, ascending by id: what replaying
    /// the log gives. Writing these to a fresh log compacts it.
    pub fn snapshot(&self) -> Vec<TxnLogRecord> {
        self.entries
            .iter()
            .filter(|(_, e)| e.durable)
            .map(|(k, e)| TxnLogRecord {
                transactional_id: k.clone(),
                value: Some(e.meta.clone()),
            })
            .collect()
    }

    /// The next effect for the caller, oldest first.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// How many transitions wait for [`Self::persisted`].
    pub fn pending_transitions(&self) -> usize {
        self.pending.len()
    }

    /// Starts the transition of `txn_id` to `target`. Takes the id by value: reference counts
    /// are atomic operations, the main cost of a transition, so none is spent needlessly.
    fn start(
        &mut self,
        txn_id: Arc<str>,
        cause: Cause,
        target: Option<TxnLogValue>,
    ) -> TransitionId {
        let id = TransitionId(self.next_transition);
        self.next_transition += 1;
        if let Some(e) = self.entries.get_mut(&txn_id) {
            e.pending = Some(Pending {
                id,
                cause,
                target: target.clone(),
            });
        }
        self.effects.push_back(Effect::Persist {
            id,
            record: TxnLogRecord {
                transactional_id: txn_id.clone(),
                value: target,
            },
        });
        self.pending.insert(id, txn_id);
        id
    }

    /// InitProducerId with a non-null transactional id (NOTES D.3).
    ///
    /// `producer_id`/`producer_epoch` are the request's (v3+; -1/-1 otherwise). Producer ids for
    /// new ids and rotations come from `ids`.
    pub fn handle_init_producer_id(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        transaction_timeout_ms: i32,
        producer_id: i64,
        producer_epoch: i16,
        ids: &mut dyn ProducerIdSource,
    ) -> Reply<InitProducerIdResponse> {
        let fail = |e| Reply::Ready(InitProducerIdResponse::error(e));
        if (producer_id == -1) != (producer_epoch == -1) {
            return fail(ErrorCode::InvalidRequest);
        }
        if transactional_id.is_empty() {
            return fail(ErrorCode::InvalidRequest);
        }
        if transaction_timeout_ms <= 0
            || transaction_timeout_ms > self.config.transaction_max_timeout_ms
        {
            return fail(ErrorCode::InvalidTransactionTimeout);
        }
        let expected = (producer_id != -1).then_some((producer_id, producer_epoch));
        let key: Arc<str> = match self.entries.get_key_value(transactional_id) {
            Some((k, _)) => k.clone(),
            None => {
                let Some(pid) = ids.next_producer_id() else {
                    return fail(ErrorCode::CoordinatorLoadInProgress);
                };
                let key: Arc<str> = transactional_id.into();
                self.entries.insert(
                    key.clone(),
                    Entry {
                        meta: TxnLogValue {
                            producer_id: pid,
                            previous_producer_id: -1,
                            producer_epoch: -1,
                            last_producer_epoch: -1,
                            transaction_timeout_ms,
                            state: TxnState::Empty,
                            txn_sequence: 0,
                            txn_start_timestamp_ms: -1,
                            txn_last_update_timestamp_ms: now_ms,
                            partitions: PartitionSet::default(),
                        },
                        durable: false,
                        pending: None,
                        marker_flags: Vec::new(),
                        markers_done: 0,
                    },
                );
                key
            }
        };
        let Some(entry) = self.entries.get(&key) else {
            return fail(ErrorCode::UnknownServerError);
        };
        if entry.pending.is_some() {
            return fail(ErrorCode::ConcurrentTransactions);
        }
        let m = &entry.meta;
        if let Some((pid, epoch)) = expected {
            let valid = m.producer_epoch == -1
                || pid == m.producer_id
                || (pid == m.previous_producer_id && epoch >= EPOCH_EXHAUSTED);
            if !valid {
                return fail(ErrorCode::ProducerFenced);
            }
        }
        match m.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                fail(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Ongoing => {
                // Fence the previous incarnation: abort its transaction under a bumped epoch;
                // the client retries and gets its own bump once the abort completes.
                let target = Self::fence_target(m, now_ms);
                Reply::AfterPersist(self.start(key, Cause::InitFence, Some(target)))
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let mut target = with_partitions(m, PartitionSet::default());
                target.state = TxnState::Empty;
                target.transaction_timeout_ms = transaction_timeout_ms;
                target.txn_start_timestamp_ms = -1;
                target.txn_last_update_timestamp_ms = now_ms;
                let expected_epoch = expected.map(|(_, e)| e);
                if m.producer_epoch >= EPOCH_EXHAUSTED
                    && expected_epoch.is_none_or(|e| e == m.producer_epoch)
                {
                    let Some(new_pid) = ids.next_producer_id() else {
                        return fail(ErrorCode::CoordinatorLoadInProgress);
                    };
                    target.previous_producer_id = m.producer_id;
                    target.producer_id = new_pid;
                    target.producer_epoch = 0;
                    target.last_producer_epoch = if expected.is_some() {
                        m.producer_epoch
                    } else {
                        -1
                    };
                } else {
                    match expected_epoch {
                        None => {
                            target.producer_epoch = m.producer_epoch.saturating_add(1);
                            target.last_producer_epoch = -1;
                        }
                        Some(e)
                            if (m.producer_epoch == -1 || e == m.producer_epoch)
                                && m.producer_epoch < EPOCH_EXHAUSTED =>
                        {
                            target.producer_epoch = m.producer_epoch.saturating_add(1);
                            target.last_producer_epoch = m.producer_epoch;
                        }
                        // A retry of a bump whose response was lost: same epoch again.
                        Some(e) if e == m.last_producer_epoch => {}
                        // Includes an exhausted epoch that the request does not match (Kafka
                        // throws there; this is the same fencing outcome, answered cleanly).
                        Some(_) => return fail(ErrorCode::ProducerFenced),
                    }
                }
                Reply::AfterPersist(self.start(key, Cause::InitProducerId, Some(target)))
            }
            TxnState::Dead | TxnState::PrepareEpochFence => fail(ErrorCode::UnknownServerError),
        }
    }

    fn fence_target(m: &TxnLogValue, now_ms: i64) -> TxnLogValue {
        let mut target = m.clone();
        // 32767 can only be reached by a fence; never overflow it.
        target.producer_epoch = m.producer_epoch.saturating_add(1);
        target.last_producer_epoch = -1;
        target.state = TxnState::PrepareAbort;
        target.txn_last_update_timestamp_ms = now_ms;
        target
    }

    /// The checks shared by AddPartitionsToTxn, AddOffsetsToTxn and the verify-only form.
    fn check_member<'e>(
        entries: &'e BTreeMap<Arc<str>, Entry>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<(&'e Arc<str>, &'e Entry), ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        let (key, entry) = entries
            .get_key_value(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if entry.meta.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if entry.meta.producer_epoch != producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        Ok((key, entry))
    }

    fn add(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
        cause: Cause,
    ) -> Reply<ErrorCode> {
        let (key, entry) = match Self::check_member(
            &self.entries,
            transactional_id,
            producer_id,
            producer_epoch,
        ) {
            Ok(found) => found,
            Err(code) => return Reply::Ready(code),
        };
        if entry.pending.is_some() || is_prepare(entry.meta.state) {
            return Reply::Ready(ErrorCode::ConcurrentTransactions);
        }
        let m = &entry.meta;
        if m.state == TxnState::Ongoing && partitions.iter().all(|p| m.partitions.contains(p)) {
            return Reply::Ready(ErrorCode::None);
        }
        let key = key.clone();
        let mut target = if m.state != TxnState::Ongoing {
            let set = PartitionSet::from_slice_with(partitions, &mut self.scratch);
            let mut target = with_partitions(m, set);
            target.txn_start_timestamp_ms = now_ms;
            target.txn_sequence = m.txn_sequence.wrapping_add(1);
            target
        } else {
            let set = m
                .partitions
                .with_inserted(partitions, &mut self.scratch)
                .unwrap_or_else(|| m.partitions.clone());
            with_partitions(m, set)
        };
        target.state = TxnState::Ongoing;
        target.txn_last_update_timestamp_ms = now_ms;
        Reply::AfterPersist(self.start(key, cause, Some(target)))
    }

    /// AddPartitionsToTxn v0-3, or v4+ with VerifyOnly=false (NOTES D.4). The returned code
    /// applies to every partition of the request.
    pub fn handle_add_partitions(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
    ) -> Reply<ErrorCode> {
        self.add(
            now_ms,
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            Cause::AddPartitions,
        )
    }

    /// AddOffsetsToTxn (NOTES D.5): the caller maps the group id to its offsets partition.
    pub fn handle_add_offsets(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        offsets_partition: TopicPartition,
    ) -> Reply<ErrorCode> {
        let partitions = [offsets_partition];
        self.add(
            now_ms,
            transactional_id,
            producer_id,
            producer_epoch,
            &partitions,
            Cause::AddOffsets,
        )
    }

    /// AddPartitionsToTxn v4+ with VerifyOnly=true, as a partition leader asks before the
    /// first transactional write of a producer (NOTES D.4, D.7). Never changes state; a
    /// pending transition is not checked, as in Kafka. Returns one code per partition.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TopicPartition],
    ) -> Vec<(TopicPartition, ErrorCode)> {
        let all = |code: ErrorCode| partitions.iter().map(|p| (p.clone(), code)).collect();
        let entry = match Self::check_member(
            &self.entries,
            transactional_id,
            producer_id,
            producer_epoch,
        ) {
            Ok((_, e)) => e,
            Err(code) => return all(code),
        };
        if is_prepare(entry.meta.state) {
            return all(ErrorCode::ConcurrentTransactions);
        }
        partitions
            .iter()
            .map(|p| {
                let code =
                    if entry.meta.state == TxnState::Ongoing && entry.meta.partitions.contains(p) {
                        ErrorCode::None
                    } else {
                        ErrorCode::TransactionAbortable
                    };
                (p.clone(), code)
            })
            .collect()
    }

    /// EndTxn (NOTES D.8). The response is sent once the Prepare record is persisted; the
    /// markers follow as an [`Effect::WriteMarkers`].
    pub fn handle_end_txn(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        result: TxnResult,
    ) -> Reply<ErrorCode> {
        if transactional_id.is_empty() {
            return Reply::Ready(ErrorCode::InvalidRequest);
        }
        let Some((key, entry)) = self.entries.get_key_value(transactional_id) else {
            return Reply::Ready(ErrorCode::InvalidProducerIdMapping);
        };
        let m = &entry.meta;
        if m.producer_id != producer_id {
            return Reply::Ready(ErrorCode::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return Reply::Ready(ErrorCode::ProducerFenced);
        }
        if entry.pending.is_some() {
            return Reply::Ready(ErrorCode::ConcurrentTransactions);
        }
        let code = match (m.state, result) {
            (TxnState::Ongoing, _) => {
                let mut target = m.clone();
                target.state = match result {
                    TxnResult::Commit => TxnState::PrepareCommit,
                    TxnResult::Abort => TxnState::PrepareAbort,
                };
                target.txn_last_update_timestamp_ms = now_ms;
                let key = key.clone();
                return Reply::AfterPersist(self.start(key, Cause::EndTxn, Some(target)));
            }
            (TxnState::CompleteCommit, TxnResult::Commit)
            | (TxnState::CompleteAbort, TxnResult::Abort) => ErrorCode::None,
            (TxnState::PrepareCommit, TxnResult::Commit)
            | (TxnState::PrepareAbort, TxnResult::Abort) => ErrorCode::ConcurrentTransactions,
            _ => ErrorCode::InvalidTxnState,
        };
        Reply::Ready(code)
    }

    /// The record of transition `id` is durable: apply it and get the response it held.
    ///
    /// # Errors
    /// [`TxnError::UnknownTransition`] if `id` is not pending (already confirmed or failed).
    pub fn persisted(&mut self, id: TransitionId) -> Result<Completion, TxnError> {
        let txn_id = self
            .pending
            .remove(&id)
            .ok_or(TxnError::UnknownTransition { id: id.0 })?;
        let Some(entry) = self.entries.get_mut(&txn_id) else {
            return Err(TxnError::UnknownTransition { id: id.0 });
        };
        let Some(pending) = entry.pending.take_if(|p| p.id == id) else {
            return Err(TxnError::UnknownTransition { id: id.0 });
        };
        let Some(target) = pending.target else {
            self.entries.remove(&txn_id);
            return Ok(Completion::Internal);
        };
        let (producer_id, producer_epoch) = (target.producer_id, target.producer_epoch);
        let prepared = is_prepare(target.state);
        entry.meta = target;
        entry.durable = true;
        Self::reset_marker_flags(entry);
        if prepared {
            self.begin_markers(txn_id);
        }
        Ok(match pending.cause {
            Cause::InitProducerId => Completion::InitProducerId(InitProducerIdResponse {
                error: ErrorCode::None,
                producer_id,
                producer_epoch,
            }),
            Cause::InitFence => Completion::InitProducerId(InitProducerIdResponse::error(
                ErrorCode::ConcurrentTransactions,
            )),
            Cause::AddPartitions => Completion::AddPartitions(ErrorCode::None),
            Cause::AddOffsets => Completion::AddOffsets(ErrorCode::None),
            Cause::EndTxn => Completion::EndTxn(ErrorCode::None),
            Cause::Internal => Completion::Internal,
        })
    }

    /// The record of transition `id` could not be written: the state stays as it was and the
    /// waiting request gets `COORDINATOR_NOT_AVAILABLE` (retriable). Internal transitions are
    /// retried by later [`Self::tick`]s.
    ///
    /// # Errors
    /// [`TxnError::UnknownTransition`] if `id` is not pending.
    pub fn persist_failed(&mut self, id: TransitionId) -> Result<Completion, TxnError> {
        let txn_id = self
            .pending
            .remove(&id)
            .ok_or(TxnError::UnknownTransition { id: id.0 })?;
        let pending = self
            .entries
            .get_mut(&txn_id)
            .and_then(|e| e.pending.take_if(|p| p.id == id))
            .ok_or(TxnError::UnknownTransition { id: id.0 })?;
        let e = ErrorCode::CoordinatorNotAvailable;
        Ok(match pending.cause {
            Cause::InitProducerId | Cause::InitFence => {
                Completion::InitProducerId(InitProducerIdResponse::error(e))
            }
            Cause::AddPartitions => Completion::AddPartitions(e),
            Cause::AddOffsets => Completion::AddOffsets(e),
            Cause::EndTxn => Completion::EndTxn(e),
            Cause::Internal => Completion::Internal,
        })
    }

    fn reset_marker_flags(entry: &mut Entry) {
        entry.marker_flags.clear();
        entry
            .marker_flags
            .resize(entry.meta.partitions.len(), false);
        entry.markers_done = 0;
    }

    /// Emits the markers of a prepared transaction (or completes it at once if it has no
    /// partitions).
    fn begin_markers(&mut self, txn_id: Arc<str>) {
        let Some(entry) = self.entries.get_mut(&txn_id) else {
            return;
        };
        Self::reset_marker_flags(entry);
        let m = &entry.meta;
        if m.partitions.is_empty() {
            let now_ms = m.txn_last_update_timestamp_ms;
            self.start_complete(txn_id, now_ms);
            return;
        }
        let result = if m.state == TxnState::PrepareCommit {
            TxnResult::Commit
        } else {
            TxnResult::Abort
        };
        self.effects.push_back(Effect::WriteMarkers(WriteMarkers {
            transactional_id: txn_id,
            txn_sequence: m.txn_sequence,
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            result,
            partitions: m.partitions.clone(),
        }));
    }

    fn start_complete(&mut self, txn_id: Arc<str>, now_ms: i64) -> Option<TransitionId> {
        let entry = self.entries.get(&txn_id)?;
        let mut target = with_partitions(&entry.meta, PartitionSet::default());
        target.state = match entry.meta.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            _ => return None,
        };
        target.txn_last_update_timestamp_ms = now_ms;
        Some(self.start(txn_id, Cause::Internal, Some(target)))
    }

    /// The caller wrote the markers of `markers` to the partitions `written` (usually all of
    /// `markers.partitions`; a subset is fine, as are late and repeated reports). When every
    /// partition has its marker, the Complete state is persisted.
    pub fn markers_written<'a>(
        &mut self,
        now_ms: i64,
        markers: &WriteMarkers,
        written: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> MarkersOutcome {
        let Some(entry) = self
            .entries
            .get_mut(&*markers.transactional_id)
            .filter(|e| e.durable)
        else {
            return MarkersOutcome::Ignored;
        };
        let m = &entry.meta;
        let state = match markers.result {
            TxnResult::Commit => TxnState::PrepareCommit,
            TxnResult::Abort => TxnState::PrepareAbort,
        };
        if m.state != state
            || m.txn_sequence != markers.txn_sequence
            || m.producer_id != markers.producer_id
            || m.producer_epoch != markers.producer_epoch
        {
            return MarkersOutcome::Ignored;
        }
        if entry.marker_flags.len() != m.partitions.len() {
            entry.marker_flags.clear();
            entry.marker_flags.resize(m.partitions.len(), false);
            entry.markers_done = 0;
        }
        let before = entry.markers_done;
        let ranked = m.partitions.as_slice();
        // Reports usually list the partitions in the set's order: try the next rank first.
        let mut next = 0usize;
        for p in written {
            let rank = match ranked.get(next) {
                Some(q) if q == p => Some(next),
                _ => m.partitions.position(p),
            };
            if let Some(i) = rank {
                next = i + 1;
            }
            let flag = rank.and_then(|i| entry.marker_flags.get_mut(i));
            if let Some(flag) = flag.filter(|f| !**f) {
                *flag = true;
                entry.markers_done += 1;
            }
        }
        if entry.markers_done == before {
            return MarkersOutcome::Ignored;
        }
        if entry.markers_done < m.partitions.len() || entry.pending.is_some() {
            return MarkersOutcome::Progress;
        }
        match self.start_complete(markers.transactional_id.clone(), now_ms) {
            Some(id) => MarkersOutcome::Completing(id),
            None => MarkersOutcome::Progress,
        }
    }

    /// Time passes: aborts transactions that outlived their timeout (bumping the epoch so the
    /// zombie is fenced, NOTES D.9), expires idle ids (NOTES C.8), and retries completions whose
    /// write failed.
    pub fn tick(&mut self, now_ms: i64) {
        let expiration_ms = self.config.transactional_id_expiration_ms;
        let mut work: Vec<(Arc<str>, u8)> = Vec::new();
        for (k, e) in &self.entries {
            if e.pending.is_some() {
                continue;
            }
            let m = &e.meta;
            if m.state == TxnState::Ongoing
                && e.durable
                && m.txn_start_timestamp_ms
                    .saturating_add(i64::from(m.transaction_timeout_ms))
                    < now_ms
            {
                work.push((k.clone(), 0));
            } else if is_idle(m.state)
                && m.txn_last_update_timestamp_ms <= now_ms.saturating_sub(expiration_ms)
            {
                work.push((k.clone(), 1));
            } else if is_prepare(m.state) && e.durable && e.markers_done == m.partitions.len() {
                work.push((k.clone(), 2));
            }
        }
        for (k, what) in work {
            match what {
                0 => {
                    if let Some(e) = self.entries.get(&k) {
                        let target = Self::fence_target(&e.meta, now_ms);
                        self.start(k, Cause::Internal, Some(target));
                    }
                }
                1 => {
                    if self.entries.get(&k).is_some_and(|e| e.durable) {
                        self.start(k, Cause::Internal, None);
                    } else {
                        self.entries.remove(&k);
                    }
                }
                _ => {
                    self.start_complete(k, now_ms);
                }
            }
        }
    }

    /// The earliest time at which [`Self::tick`] has work (a timeout or an expiry), if any.
    /// Scans every id.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.entries
            .values()
            .filter(|e| e.pending.is_none())
            .filter_map(|e| {
                let m = &e.meta;
                if m.state == TxnState::Ongoing {
                    Some(
                        m.txn_start_timestamp_ms
                            .saturating_add(i64::from(m.transaction_timeout_ms))
                            .saturating_add(1),
                    )
                } else if is_idle(m.state) {
                    Some(
                        m.txn_last_update_timestamp_ms
                            .saturating_add(self.config.transactional_id_expiration_ms),
                    )
                } else {
                    None
                }
            })
            .min()
    }

    /// DescribeTransactions for one id.
    pub fn describe(&self, transactional_id: &str) -> TransactionDescription {
        match self.entries.get(transactional_id) {
            Some(e) => TransactionDescription {
                error: ErrorCode::None,
                state: e.meta.state,
                producer_id: e.meta.producer_id,
                producer_epoch: e.meta.producer_epoch,
                transaction_timeout_ms: e.meta.transaction_timeout_ms,
                transaction_start_time_ms: e.meta.txn_start_timestamp_ms,
                partitions: e.meta.partitions.iter().cloned().collect(),
            },
            None => TransactionDescription {
                error: ErrorCode::TransactionalIdNotFound,
                state: TxnState::Dead,
                producer_id: -1,
                producer_epoch: -1,
                transaction_timeout_ms: 0,
                transaction_start_time_ms: -1,
                partitions: Vec::new(),
            },
        }
    }

    /// ListTransactions: ids whose state is in `states` and producer id in `producer_ids`
    /// (an empty filter matches all), and, if `duration_filter_ms` ≥ 0 (ListTransactions v1),
    /// whose transaction started more than that long ago (ids that never started one are
    /// left out). Ascending by id.
    pub fn list(
        &self,
        now_ms: i64,
        states: &[TxnState],
        producer_ids: &[i64],
        duration_filter_ms: i64,
    ) -> Vec<ListedTransaction> {
        self.entries
            .iter()
            .filter(|(_, e)| states.is_empty() || states.contains(&e.meta.state))
            .filter(|(_, e)| producer_ids.is_empty() || producer_ids.contains(&e.meta.producer_id))
            .filter(|(_, e)| {
                duration_filter_ms < 0
                    || (e.meta.txn_start_timestamp_ms >= 0
                        && now_ms.saturating_sub(e.meta.txn_start_timestamp_ms)
                            > duration_filter_ms)
            })
            .map(|(k, e)| ListedTransaction {
                transactional_id: k.clone(),
                producer_id: e.meta.producer_id,
                state: e.meta.state,
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
