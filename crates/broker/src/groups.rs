//! The group coordinator of this broker: semel-group (membership) and semel-offsets (committed
//! offsets) behind one lock, their records persisted in the internal log
//! `<data-dir>/__consumer_groups`, and a ticker that fires their timers.
//!
//! Every change the state machines make comes out as records. Records are appended and flushed
//! by one persister task, in order; an answer that depends on a record (a SyncGroup, an
//! OffsetCommit) is released only after the flush that covers it. The lock is never held
//! across the flush.
//!
//! Each log entry is a tag byte followed by the record: 0 = a semel-group record, 1 = a
//! semel-offsets record. On start the log is replayed into both state machines.

use parking_lot::Mutex;
use semel_group::{Event, GroupConfig, GroupCoordinator, RequestToken};
use semel_log::{Log, LogConfig, LogReader};
use semel_offsets::{GroupActivity, OffsetRecord, OffsetStore, OffsetsConfig, Write};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Weak};
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::{error, warn};

const GROUP_RECORD: u8 = 0;
const OFFSET_RECORD: u8 = 1;

/// A parked JoinGroup or SyncGroup answer.
#[derive(Debug)]
pub enum Parked {
    /// JoinGroup.
    Join(semel_group::JoinResponse),
    /// SyncGroup.
    Sync(semel_group::SyncResponse),
}

/// Work to run once a batch of records is durable.
pub type AfterDurable = Box<dyn FnOnce(&Groups) + Send>;

/// Records to persist, and what to do once they are durable.
struct Job {
    records: Vec<Vec<u8>>,
    then: Vec<AfterDurable>,
}

/// State behind the lock.
pub struct State {
    /// Membership.
    pub groups: GroupCoordinator,
    /// Committed offsets.
    pub offsets: OffsetStore,
    next_token: u64,
    parked: HashMap<u64, oneshot::Sender<Parked>>,
    /// When each group was first seen empty (for offset expiry).
    empty_since: BTreeMap<String, i64>,
}

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum GroupsOpenError {
    /// The internal log failed.
    #[error(transparent)]
    Log(#[from] semel_log::Error),
    /// A stored record is damaged.
    #[error("damaged consumer-group record at offset {offset}: {message}")]
    Damaged {
        /// Log offset of the record.
        offset: u64,
        /// What is wrong.
        message: String,
    },
}

/// The coordinator.
pub struct Groups {
    state: Mutex<State>,
    log: Mutex<Log>,
    reader: LogReader,
    jobs: mpsc::UnboundedSender<Job>,
    wake_ticker: Notify,
    /// Completed rebalances, for metrics.
    pub rebalances: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups").finish_non_exhaustive()
    }
}

impl Groups {
    /// Opens the log, replays it, and starts the persister and the ticker (on the current
    /// tokio runtime).
    ///
    /// # Errors
    /// The log cannot be opened or holds a damaged record.
    pub fn open(data_dir: &Path, now_ms: i64, seed: u64) -> Result<Arc<Self>, GroupsOpenError> {
        let log = Log::open(
            data_dir.join("__consumer_groups"),
            LogConfig {
                segment_bytes: 64 * 1024 * 1024,
                ..LogConfig::default()
            },
        )?;
        let reader = log.reader();
        let mut group_records: Vec<Vec<u8>> = Vec::new();
        let mut offset_records: Vec<OffsetRecord> = Vec::new();
        reader.replay(reader.log_start_offset(), |entry| {
            let damaged = |message: String| GroupsOpenError::Damaged {
                offset: entry.base_offset,
                message,
            };
            match entry.payload.split_first() {
                Some((&GROUP_RECORD, body)) => group_records.push(body.to_vec()),
                Some((&OFFSET_RECORD, body)) => {
                    offset_records
                        .push(OffsetRecord::decode(body).map_err(|e| damaged(e.to_string()))?);
                }
                _ => return Err(damaged("unknown record tag".to_owned())),
            }
            Ok(())
        })?;
        let groups = GroupCoordinator::replay(
            GroupConfig::default(),
            seed,
            now_ms,
            group_records.iter().map(Vec::as_slice),
        )
        .map_err(|e| GroupsOpenError::Damaged {
            offset: 0,
            message: e.to_string(),
        })?;
        let offsets = OffsetStore::replay(OffsetsConfig::default(), offset_records);
        let (jobs, queue) = mpsc::unbounded_channel();
        let this = Arc::new(Self {
            state: Mutex::new(State {
                groups,
                offsets,
                next_token: 1,
                parked: HashMap::new(),
                empty_since: BTreeMap::new(),
            }),
            log: Mutex::new(log),
            reader,
            jobs,
            wake_ticker: Notify::new(),
            rebalances: std::sync::atomic::AtomicU64::new(0),
        });
        tokio::spawn(persister(Arc::downgrade(&this), queue));
        tokio::spawn(crate::deadlines::run(
            Arc::downgrade(&this),
            |g: &Groups| &g.wake_ticker,
            |g: &Groups| g.state.lock().groups.poll_timeout(),
            |g: &Groups, now| {
                let mut state = g.state.lock();
                if state.groups.poll_timeout().is_some_and(|d| d <= now) {
                    state.groups.tick(now);
                    g.drain(&mut state, Vec::new(), Vec::new());
                }
            },
        ));
        Ok(this)
    }

    /// Runs `f` on the state; then persists whatever records the group coordinator emitted
    /// and releases the parked answers that follow them, after the flush.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock();
        let out = f(&mut state);
        self.drain(&mut state, Vec::new(), Vec::new());
        drop(state);
        self.wake_ticker.notify_one();
        out
    }

    /// Like [`Groups::with_state`], but `f` also returns records of its own (offset writes)
    /// and work to run once they are durable.
    pub fn with_state_then<R>(
        &self,
        f: impl FnOnce(&mut State) -> (R, Vec<Vec<u8>>, Vec<AfterDurable>),
    ) -> R {
        let mut state = self.state.lock();
        let (out, records, then) = f(&mut state);
        self.drain(&mut state, records, then);
        drop(state);
        self.wake_ticker.notify_one();
        out
    }

    /// A token for a request that may be parked, and the receiver of its answer.
    pub fn park(state: &mut State) -> (RequestToken, oneshot::Receiver<Parked>) {
        let token = state.next_token;
        state.next_token += 1;
        let (tx, rx) = oneshot::channel();
        state.parked.insert(token, tx);
        (RequestToken(token), rx)
    }

    /// Forgets a token whose request was answered at once.
    pub fn unpark(state: &mut State, token: RequestToken) {
        state.parked.remove(&token.0);
    }

    /// Queues the group coordinator's events (records, then answers) after `records`.
    fn drain(&self, state: &mut State, mut records: Vec<Vec<u8>>, mut then: Vec<AfterDurable>) {
        while let Some(event) = state.groups.poll_event() {
            match event {
                Event::Persist(record) => {
                    let mut bytes = Vec::with_capacity(record.encoded_len() + 1);
                    bytes.push(GROUP_RECORD);
                    bytes.extend_from_slice(&record.encode());
                    records.push(bytes);
                }
                Event::Join { token, response } => {
                    if response.error == semel_group::ErrorCode::None {
                        self.rebalances
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if let Some(tx) = state.parked.remove(&token.0) {
                        then.push(Box::new(move |_| {
                            let _ = tx.send(Parked::Join(response));
                        }));
                    }
                }
                Event::Sync { token, response } => {
                    if let Some(tx) = state.parked.remove(&token.0) {
                        then.push(Box::new(move |_| {
                            let _ = tx.send(Parked::Sync(response));
                        }));
                    }
                }
            }
        }
        if records.is_empty() && then.is_empty() {
            return;
        }
        // Queued under the state lock, so jobs reach the log in the order the state changed.
        if self.jobs.send(Job { records, then }).is_err() {
            error!("the consumer-group persister stopped; group answers are lost");
        }
    }

    /// The records of an offset write, tagged for the log.
    pub fn offset_records(write: &Write) -> Vec<Vec<u8>> {
        write
            .records()
            .iter()
            .filter_map(|r| match r.encode() {
                Ok(bytes) => {
                    let mut tagged = Vec::with_capacity(bytes.len() + 1);
                    tagged.push(OFFSET_RECORD);
                    tagged.extend_from_slice(&bytes);
                    Some(tagged)
                }
                Err(e) => {
                    error!(error = %e, "an offset record cannot be encoded");
                    None
                }
            })
            .collect()
    }

    /// Hands a durable offset write back to the store.
    pub fn offsets_persisted(&self, write: Write) {
        let mut state = self.state.lock();
        if let Err(e) = state.offsets.persisted(write) {
            error!(error = %e, "offset write handed back twice");
        }
    }

    /// A transaction marker reached the offsets: `producer_id`'s pending offsets become
    /// committed (`commit`) or are dropped. Returns a receiver that fires once the marker
    /// record is durable, or `None` if the producer had no offsets pending.
    pub fn complete_txn(&self, producer_id: i64, commit: bool) -> Option<oneshot::Receiver<()>> {
        self.with_state_then(
            |state| match state.offsets.complete_txn(producer_id, commit) {
                Some(write) => {
                    let records = Self::offset_records(&write);
                    let (tx, rx) = oneshot::channel();
                    let then: Vec<AfterDurable> = vec![Box::new(move |groups: &Groups| {
                        groups.offsets_persisted(write);
                        let _ = tx.send(());
                    })];
                    (Some(rx), records, then)
                }
                None => (None, Vec::new(), Vec::new()),
            },
        )
    }

    /// Offset expiry: tells the store how each group's offsets expire, then persists the
    /// tombstones of the expired ones.
    pub fn expire_offsets(&self, now_ms: i64) {
        self.with_state_then(|state| {
            let listed = state.groups.list_groups(&[]);
            let mut seen = std::collections::BTreeSet::new();
            for group in listed {
                seen.insert(group.group_id.clone());
                let activity = match group.state {
                    semel_group::GroupState::Empty if group.protocol_type.is_empty() => {
                        GroupActivity::Standalone
                    }
                    semel_group::GroupState::Empty => {
                        let since_ms = *state
                            .empty_since
                            .entry(group.group_id.clone())
                            .or_insert(now_ms);
                        GroupActivity::Empty { since_ms }
                    }
                    _ => {
                        state.empty_since.remove(&group.group_id);
                        GroupActivity::Active {
                            subscribed_topics: None,
                        }
                    }
                };
                state.offsets.set_group_activity(&group.group_id, activity);
            }
            state.empty_since.retain(|g, _| seen.contains(g));
            match state.offsets.expire(now_ms) {
                Some(write) => {
                    let records = Self::offset_records(&write);
                    let then: Vec<AfterDurable> = vec![Box::new(move |groups: &Groups| {
                        groups.offsets_persisted(write)
                    })];
                    ((), records, then)
                }
                None => ((), Vec::new(), Vec::new()),
            }
        });
    }
}

/// Appends every queued record, flushes once, then runs what waited for them.
async fn persister(groups: Weak<Groups>, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while let Ok(more) = queue.try_recv() {
            jobs.push(more);
        }
        let Some(this) = groups.upgrade() else { return };
        let mut appended = false;
        let mut failed = false;
        {
            let mut log = this.log.lock();
            for record in jobs.iter().flat_map(|j| &j.records) {
                if let Err(e) = log.append(record, 1, 0) {
                    error!(error = %e, "cannot persist a consumer-group record");
                    failed = true;
                    break;
                }
                appended = true;
            }
        }
        if appended && !failed {
            let reader = this.reader.clone();
            match tokio::task::spawn_blocking(move || reader.sync()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    error!(error = %e, "cannot flush consumer-group records");
                    failed = true;
                }
                Err(e) => {
                    error!(error = %e, "flush task failed");
                    failed = true;
                }
            }
        }
        if failed {
            // Nothing that depended on these records is released: waiting clients time out
            // and retry; the log refuses writes until the broker restarts and replays it.
            warn!("dropping group answers whose records could not be made durable");
            continue;
        }
        for job in jobs {
            for then in job.then {
                then(&this);
            }
        }
    }
}
