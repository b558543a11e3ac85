//! One test per Kafka outcome of the coordinator (NOTES D.3–D.9), named after the case.

use super::*;

const TIMEOUT_MS: i32 = 60_000;

/// A coordinator with a producer id allocator and a log that keeps every persisted record.
struct Harness {
    c: TransactionCoordinator,
    next_pid: i64,
    pid_source_down: bool,
    log: Vec<TxnLogRecord>,
    markers: Vec<WriteMarkers>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(CoordinatorConfig::default())
    }

    fn with_config(config: CoordinatorConfig) -> Self {
        Self {
            c: TransactionCoordinator::new(config),
            next_pid: 100,
            pid_source_down: false,
            log: Vec::new(),
            markers: Vec::new(),
        }
    }

    fn init_reply(
        &mut self,
        now: i64,
        id: &str,
        pid: i64,
        epoch: i16,
    ) -> Reply<InitProducerIdResponse> {
        let next = &mut self.next_pid;
        let down = self.pid_source_down;
        let mut ids = || {
            if down {
                return None;
            }
            *next += 1;
            Some(*next)
        };
        self.c
            .handle_init_producer_id(now, id, TIMEOUT_MS, pid, epoch, &mut ids)
    }

    /// Persists every pending record (not acknowledging markers: they are collected).
    fn drive(&mut self) -> Vec<Completion> {
        let mut done = Vec::new();
        while let Some(e) = self.c.poll_effect() {
            match e {
                Effect::Persist { id, record } => {
                    self.log.push(record);
                    done.push(self.c.persisted(id).unwrap());
                }
                Effect::WriteMarkers(m) => self.markers.push(m),
            }
        }
        done
    }

    /// Acknowledges all collected markers, then persists the completions.
    fn write_markers(&mut self, now: i64) {
        for m in std::mem::take(&mut self.markers) {
            self.c.markers_written(now, &m, m.partitions.iter());
        }
        self.drive();
        assert!(self.markers.is_empty());
    }

    fn init(&mut self, now: i64, id: &str, pid: i64, epoch: i16) -> InitProducerIdResponse {
        match self.init_reply(now, id, pid, epoch) {
            Reply::Ready(r) => r,
            Reply::AfterPersist(t) => {
                let done = self.drive();
                assert!(!done.is_empty(), "transition {t:?} persisted");
                match done[0] {
                    Completion::InitProducerId(r) => r,
                    ref other => panic!("unexpected completion {other:?}"),
                }
            }
        }
    }

    fn add(
        &mut self,
        now: i64,
        id: &str,
        pid: i64,
        epoch: i16,
        parts: &[TopicPartition],
    ) -> ErrorCode {
        match self.c.handle_add_partitions(now, id, pid, epoch, parts) {
            Reply::Ready(code) => code,
            Reply::AfterPersist(_) => match self.drive()[0] {
                Completion::AddPartitions(code) => code,
                ref other => panic!("unexpected completion {other:?}"),
            },
        }
    }

    fn end(&mut self, now: i64, id: &str, pid: i64, epoch: i16, result: TxnResult) -> ErrorCode {
        match self.c.handle_end_txn(now, id, pid, epoch, result) {
            Reply::Ready(code) => code,
            Reply::AfterPersist(_) => match self.drive()[0] {
                Completion::EndTxn(code) => code,
                ref other => panic!("unexpected completion {other:?}"),
            },
        }
    }

    fn state(&self, id: &str) -> TxnState {
        self.c.describe(id).state
    }

    fn assert_replay_matches(&self) {
        let replayed = TransactionCoordinator::replay(self.c.config, &self.log);
        assert_eq!(replayed.snapshot(), self.c.snapshot());
    }
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// A harness with "tx" initialised as producer 101, epoch 0.
fn ready() -> Harness {
    let mut h = Harness::new();
    let r = h.init(0, "tx", -1, -1);
    assert_eq!(
        r,
        InitProducerIdResponse {
            error: ErrorCode::None,
            producer_id: 101,
            producer_epoch: 0
        }
    );
    h
}

/// A harness with "tx" (101, 0) Ongoing on a/0 and b/1.
fn ongoing() -> Harness {
    let mut h = ready();
    assert_eq!(
        h.add(10, "tx", 101, 0, &[tp("a", 0), tp("b", 1)]),
        ErrorCode::None
    );
    h
}

// ---- InitProducerId (D.3) ----

#[test]
fn init_with_only_one_of_producer_id_and_epoch_is_invalid_request() {
    let mut h = Harness::new();
    assert_eq!(h.init(0, "tx", 5, -1).error, ErrorCode::InvalidRequest);
    assert_eq!(h.init(0, "tx", -1, 3).error, ErrorCode::InvalidRequest);
}

#[test]
fn init_with_empty_transactional_id_is_invalid_request() {
    let mut h = Harness::new();
    assert_eq!(h.init(0, "", -1, -1).error, ErrorCode::InvalidRequest);
}

#[test]
fn init_with_non_positive_or_too_large_timeout_is_invalid_transaction_timeout() {
    let mut h = Harness::new();
    let mut ids = || Some(1);
    for timeout in [0, -5, DEFAULT_TRANSACTION_MAX_TIMEOUT_MS + 1] {
        let r =
            h.c.handle_init_producer_id(0, "tx", timeout, -1, -1, &mut ids);
        assert_eq!(
            r,
            Reply::Ready(InitProducerIdResponse::error(
                ErrorCode::InvalidTransactionTimeout
            ))
        );
    }
    let r = h.c.handle_init_producer_id(
        0,
        "tx",
        DEFAULT_TRANSACTION_MAX_TIMEOUT_MS,
        -1,
        -1,
        &mut ids,
    );
    assert!(matches!(r, Reply::AfterPersist(_)));
}

#[test]
fn init_for_unknown_id_allocates_producer_id_with_epoch_zero() {
    let h = ready();
    assert_eq!(h.state("tx"), TxnState::Empty);
    assert_eq!(h.log.len(), 1);
    h.assert_replay_matches();
}

#[test]
fn init_when_producer_id_source_is_unavailable_is_coordinator_load_in_progress() {
    let mut h = Harness::new();
    h.pid_source_down = true;
    assert_eq!(
        h.init(0, "tx", -1, -1).error,
        ErrorCode::CoordinatorLoadInProgress
    );
    assert_eq!(h.c.describe("tx").error, ErrorCode::TransactionalIdNotFound);
}

#[test]
fn init_while_transition_pending_is_concurrent_transactions() {
    let mut h = Harness::new();
    assert!(matches!(
        h.init_reply(0, "tx", -1, -1),
        Reply::AfterPersist(_)
    ));
    assert_eq!(
        h.init(0, "tx", -1, -1).error,
        ErrorCode::ConcurrentTransactions
    );
    h.drive();
    assert_eq!(h.init(0, "tx", -1, -1).producer_epoch, 1);
}

#[test]
fn init_with_other_producer_id_is_producer_fenced() {
    let mut h = ready();
    assert_eq!(h.init(1, "tx", 999, 0).error, ErrorCode::ProducerFenced);
}

#[test]
fn init_in_prepare_commit_is_concurrent_transactions() {
    let mut h = ongoing();
    assert_eq!(h.end(20, "tx", 101, 0, TxnResult::Commit), ErrorCode::None);
    assert_eq!(h.state("tx"), TxnState::PrepareCommit);
    assert_eq!(
        h.init(21, "tx", -1, -1).error,
        ErrorCode::ConcurrentTransactions
    );
    h.write_markers(22);
    assert_eq!(h.init(23, "tx", -1, -1).producer_epoch, 1);
}

#[test]
fn init_without_expected_epoch_bumps_and_forgets_last_epoch() {
    let mut h = ready();
    let r = h.init(1, "tx", -1, -1);
    assert_eq!((r.producer_id, r.producer_epoch), (101, 1));
    assert_eq!(
        h.c.snapshot()[0]
            .value
            .as_ref()
            .unwrap()
            .last_producer_epoch,
        -1
    );
}

#[test]
fn init_with_current_epoch_bumps_and_remembers_last_epoch() {
    let mut h = ready();
    let r = h.init(1, "tx", 101, 0);
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 1));
    assert_eq!(
        h.c.snapshot()[0]
            .value
            .as_ref()
            .unwrap()
            .last_producer_epoch,
        0
    );
    h.assert_replay_matches();
}

#[test]
fn init_retry_with_last_epoch_returns_the_same_epoch() {
    let mut h = ready();
    assert_eq!(h.init(1, "tx", 101, 0).producer_epoch, 1);
    // The response was lost; the client retries with its old epoch.
    let r = h.init(2, "tx", 101, 0);
    assert_eq!((r.error, r.producer_epoch), (ErrorCode::None, 1));
}

#[test]
fn init_with_stale_expected_epoch_is_producer_fenced() {
    let mut h = ready();
    h.init(1, "tx", -1, -1); // another instance: epoch 1, last epoch -1
    h.init(2, "tx", -1, -1); // epoch 2
    assert_eq!(h.init(3, "tx", 101, 0).error, ErrorCode::ProducerFenced);
}

#[test]
fn init_with_ongoing_transaction_fences_aborts_and_answers_concurrent_transactions() {
    let mut h = ongoing();
    let r = h.init(30, "tx", -1, -1);
    assert_eq!(r.error, ErrorCode::ConcurrentTransactions);
    assert_eq!(h.state("tx"), TxnState::PrepareAbort);
    assert_eq!(h.markers.len(), 1);
    assert_eq!(
        h.markers[0].producer_epoch, 1,
        "markers carry the bumped epoch"
    );
    assert_eq!(h.markers[0].result, TxnResult::Abort);
    // The zombie (epoch 0) is fenced at once.
    assert_eq!(
        h.add(31, "tx", 101, 0, &[tp("c", 0)]),
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        h.end(31, "tx", 101, 0, TxnResult::Commit),
        ErrorCode::ProducerFenced
    );
    // The new producer retries until the abort completes, then gets a further bump.
    assert_eq!(
        h.init(32, "tx", -1, -1).error,
        ErrorCode::ConcurrentTransactions
    );
    h.write_markers(33);
    assert_eq!(h.state("tx"), TxnState::CompleteAbort);
    let r = h.init(34, "tx", -1, -1);
    assert_eq!(
        (r.error, r.producer_id, r.producer_epoch),
        (ErrorCode::None, 101, 2)
    );
    h.assert_replay_matches();
}

fn exhausted() -> Harness {
    let mut h = ready();
    // Fast-forward the epoch by replaying a record, as if many bumps had happened.
    let mut record = h.c.snapshot().remove(0);
    if let Some(v) = record.value.as_mut() {
        v.producer_epoch = EPOCH_EXHAUSTED;
    }
    h.log.push(record);
    h.c = TransactionCoordinator::replay(h.c.config, &h.log);
    h
}

#[test]
fn init_with_exhausted_epoch_rotates_the_producer_id() {
    let mut h = exhausted();
    let r = h.init(1, "tx", 101, EPOCH_EXHAUSTED);
    assert_eq!(
        (r.error, r.producer_id, r.producer_epoch),
        (ErrorCode::None, 102, 0)
    );
    let v = h.c.snapshot().remove(0).value.unwrap();
    assert_eq!(
        (v.previous_producer_id, v.last_producer_epoch),
        (101, EPOCH_EXHAUSTED)
    );
    h.assert_replay_matches();
}

#[test]
fn init_retry_after_rotation_with_old_producer_id_returns_the_new_one() {
    let mut h = exhausted();
    h.init(1, "tx", 101, EPOCH_EXHAUSTED);
    let r = h.init(2, "tx", 101, EPOCH_EXHAUSTED);
    assert_eq!(
        (r.error, r.producer_id, r.producer_epoch),
        (ErrorCode::None, 102, 0)
    );
}

#[test]
fn init_without_expected_epoch_when_exhausted_rotates_and_forgets_last_epoch() {
    let mut h = exhausted();
    let r = h.init(1, "tx", -1, -1);
    assert_eq!((r.producer_id, r.producer_epoch), (102, 0));
    assert_eq!(
        h.c.snapshot()[0]
            .value
            .as_ref()
            .unwrap()
            .last_producer_epoch,
        -1
    );
}

#[test]
fn init_with_stale_epoch_when_exhausted_is_producer_fenced() {
    let mut h = exhausted();
    assert_eq!(h.init(1, "tx", 101, 5).error, ErrorCode::ProducerFenced);
}

#[test]
fn init_when_producer_id_source_is_unavailable_for_rotation_is_coordinator_load_in_progress() {
    let mut h = exhausted();
    h.pid_source_down = true;
    assert_eq!(
        h.init(1, "tx", -1, -1).error,
        ErrorCode::CoordinatorLoadInProgress
    );
    assert_eq!(
        h.c.describe("tx").producer_epoch,
        EPOCH_EXHAUSTED,
        "nothing changed"
    );
}

#[test]
fn fencing_an_ongoing_transaction_at_the_last_epoch_then_init_rotates_the_producer_id() {
    let mut h = ready();
    let mut record = h.c.snapshot().remove(0);
    if let Some(v) = record.value.as_mut() {
        v.producer_epoch = EPOCH_EXHAUSTED;
    }
    h.log.push(record);
    h.c = TransactionCoordinator::replay(h.c.config, &h.log);
    assert_eq!(
        h.add(1, "tx", 101, EPOCH_EXHAUSTED, &[tp("a", 0)]),
        ErrorCode::None
    );
    // A new instance fences the open transaction: the abort uses the reserved epoch 32767.
    assert_eq!(
        h.init(2, "tx", -1, -1).error,
        ErrorCode::ConcurrentTransactions
    );
    assert_eq!(h.markers[0].producer_epoch, i16::MAX);
    h.write_markers(3);
    let r = h.init(4, "tx", -1, -1);
    assert_eq!(
        (r.error, r.producer_id, r.producer_epoch),
        (ErrorCode::None, 102, 0)
    );
    h.assert_replay_matches();
}

#[test]
fn timeout_abort_whose_write_fails_is_retried_by_the_next_tick() {
    let mut h = ongoing();
    let deadline = 10 + i64::from(TIMEOUT_MS) + 1;
    h.c.tick(deadline);
    let Some(Effect::Persist { id, .. }) = h.c.poll_effect() else {
        panic!("fence record")
    };
    assert_eq!(h.c.persist_failed(id), Ok(Completion::Internal));
    assert_eq!(h.state("tx"), TxnState::Ongoing);
    h.c.tick(deadline + 1);
    h.drive();
    assert_eq!(h.state("tx"), TxnState::PrepareAbort);
    assert_eq!(h.c.describe("tx").producer_epoch, 1);
}

// ---- AddPartitionsToTxn / AddOffsetsToTxn (D.4, D.5) ----

#[test]
fn add_partitions_with_empty_transactional_id_is_invalid_request() {
    let mut h = ready();
    assert_eq!(
        h.add(1, "", 101, 0, &[tp("a", 0)]),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn add_partitions_for_unknown_id_is_invalid_producer_id_mapping() {
    let mut h = ready();
    assert_eq!(
        h.add(1, "other", 101, 0, &[tp("a", 0)]),
        ErrorCode::InvalidProducerIdMapping
    );
}

#[test]
fn add_partitions_with_other_producer_id_is_invalid_producer_id_mapping() {
    let mut h = ready();
    assert_eq!(
        h.add(1, "tx", 7, 0, &[tp("a", 0)]),
        ErrorCode::InvalidProducerIdMapping
    );
}

#[test]
fn add_partitions_with_wrong_epoch_is_producer_fenced() {
    let mut h = ready();
    assert_eq!(
        h.add(1, "tx", 101, 1, &[tp("a", 0)]),
        ErrorCode::ProducerFenced
    );
    h.init(2, "tx", -1, -1);
    assert_eq!(
        h.add(3, "tx", 101, 0, &[tp("a", 0)]),
        ErrorCode::ProducerFenced
    );
}

#[test]
fn add_partitions_while_transition_pending_is_concurrent_transactions() {
    let mut h = ready();
    assert!(matches!(
        h.c.handle_add_partitions(1, "tx", 101, 0, &[tp("a", 0)]),
        Reply::AfterPersist(_)
    ));
    assert_eq!(
        h.c.handle_add_partitions(1, "tx", 101, 0, &[tp("b", 0)]),
        Reply::Ready(ErrorCode::ConcurrentTransactions)
    );
}

#[test]
fn add_partitions_while_markers_are_written_is_concurrent_transactions() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Abort);
    assert_eq!(
        h.add(21, "tx", 101, 0, &[tp("a", 0)]),
        ErrorCode::ConcurrentTransactions
    );
    // Also while the Complete record is pending.
    let m = h.markers.pop().unwrap();
    assert!(matches!(
        h.c.markers_written(22, &m, m.partitions.iter()),
        MarkersOutcome::Completing(_)
    ));
    assert_eq!(
        h.add(22, "tx", 101, 0, &[tp("a", 0)]),
        ErrorCode::ConcurrentTransactions
    );
    h.drive();
    assert_eq!(h.add(23, "tx", 101, 0, &[tp("a", 0)]), ErrorCode::None);
}

#[test]
fn add_partitions_already_in_transaction_is_none_without_a_record() {
    let mut h = ongoing();
    let before = h.log.len();
    assert_eq!(
        h.c.handle_add_partitions(11, "tx", 101, 0, &[tp("a", 0)]),
        Reply::Ready(ErrorCode::None)
    );
    assert_eq!(h.log.len(), before);
}

#[test]
fn add_partitions_starts_the_transaction_and_keeps_its_start_time() {
    let mut h = ongoing();
    assert_eq!(h.state("tx"), TxnState::Ongoing);
    assert_eq!(h.add(50, "tx", 101, 0, &[tp("c", 0)]), ErrorCode::None);
    let d = h.c.describe("tx");
    assert_eq!(d.transaction_start_time_ms, 10);
    assert_eq!(d.partitions, vec![tp("a", 0), tp("b", 1), tp("c", 0)]);
    h.assert_replay_matches();
}

#[test]
fn add_offsets_adds_the_offsets_partition_with_the_same_checks() {
    let mut h = ongoing();
    let offsets = tp("__consumer_offsets", 7);
    let reply = h.c.handle_add_offsets(11, "tx", 101, 0, offsets.clone());
    assert!(matches!(reply, Reply::AfterPersist(_)));
    assert_eq!(h.drive(), vec![Completion::AddOffsets(ErrorCode::None)]);
    assert!(h.c.describe("tx").partitions.contains(&offsets));
    assert_eq!(
        h.c.handle_add_offsets(12, "tx", 101, 1, offsets.clone()),
        Reply::Ready(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        h.c.handle_add_offsets(12, "zz", 101, 0, offsets.clone()),
        Reply::Ready(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        h.c.handle_add_offsets(12, "", 101, 0, offsets),
        Reply::Ready(ErrorCode::InvalidRequest)
    );
}

#[test]
fn persist_failure_answers_coordinator_not_available_and_keeps_state() {
    let mut h = ready();
    let Reply::AfterPersist(id) = h.c.handle_add_partitions(1, "tx", 101, 0, &[tp("a", 0)]) else {
        panic!()
    };
    // The caller takes the record, fails to write it, and says so.
    assert!(matches!(h.c.poll_effect(), Some(Effect::Persist { id: p, .. }) if p == id));
    assert_eq!(
        h.c.persist_failed(id),
        Ok(Completion::AddPartitions(
            ErrorCode::CoordinatorNotAvailable
        ))
    );
    assert_eq!(h.state("tx"), TxnState::Empty);
    assert_eq!(
        h.c.persisted(id),
        Err(TxnError::UnknownTransition { id: id.0 })
    );
    assert_eq!(h.add(2, "tx", 101, 0, &[tp("a", 0)]), ErrorCode::None);
}

// ---- Verify-only AddPartitionsToTxn (D.4, D.7) ----

#[test]
fn verify_unknown_id_or_producer_is_invalid_producer_id_mapping() {
    let h = ongoing();
    let r = h.c.verify_partitions("zz", 101, 0, &[tp("a", 0)]);
    assert_eq!(r, vec![(tp("a", 0), ErrorCode::InvalidProducerIdMapping)]);
    let r = h.c.verify_partitions("tx", 5, 0, &[tp("a", 0)]);
    assert_eq!(r, vec![(tp("a", 0), ErrorCode::InvalidProducerIdMapping)]);
}

#[test]
fn verify_with_wrong_epoch_is_producer_fenced() {
    let h = ongoing();
    let r = h.c.verify_partitions("tx", 101, 3, &[tp("a", 0)]);
    assert_eq!(r, vec![(tp("a", 0), ErrorCode::ProducerFenced)]);
}

#[test]
fn verify_in_prepare_state_is_concurrent_transactions() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Commit);
    let r = h.c.verify_partitions("tx", 101, 0, &[tp("a", 0)]);
    assert_eq!(r, vec![(tp("a", 0), ErrorCode::ConcurrentTransactions)]);
}

#[test]
fn verify_partition_not_in_transaction_is_transaction_abortable() {
    let h = ongoing();
    let r =
        h.c.verify_partitions("tx", 101, 0, &[tp("a", 0), tp("z", 0)]);
    assert_eq!(
        r,
        vec![
            (tp("a", 0), ErrorCode::None),
            (tp("z", 0), ErrorCode::TransactionAbortable)
        ]
    );
    let h = ready();
    let r = h.c.verify_partitions("tx", 101, 0, &[tp("a", 0)]);
    assert_eq!(r, vec![(tp("a", 0), ErrorCode::TransactionAbortable)]);
}

#[test]
fn verify_ignores_a_pending_transition_and_changes_nothing() {
    let mut h = ongoing();
    assert!(matches!(
        h.c.handle_add_partitions(11, "tx", 101, 0, &[tp("c", 0)]),
        Reply::AfterPersist(_)
    ));
    let r = h.c.verify_partitions("tx", 101, 0, &[tp("a", 0)]);
    assert_eq!(r, vec![(tp("a", 0), ErrorCode::None)]);
    assert_eq!(h.c.pending_transitions(), 1);
}

// ---- EndTxn and markers (D.8) ----

#[test]
fn end_txn_with_empty_transactional_id_is_invalid_request() {
    let mut h = ongoing();
    assert_eq!(
        h.end(20, "", 101, 0, TxnResult::Commit),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn end_txn_for_unknown_id_or_other_producer_is_invalid_producer_id_mapping() {
    let mut h = ongoing();
    assert_eq!(
        h.end(20, "zz", 101, 0, TxnResult::Commit),
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        h.end(20, "tx", 7, 0, TxnResult::Commit),
        ErrorCode::InvalidProducerIdMapping
    );
}

#[test]
fn end_txn_with_wrong_epoch_is_producer_fenced() {
    let mut h = ongoing();
    assert_eq!(
        h.end(20, "tx", 101, 1, TxnResult::Commit),
        ErrorCode::ProducerFenced
    );
}

#[test]
fn end_txn_while_transition_pending_is_concurrent_transactions() {
    let mut h = ongoing();
    assert!(matches!(
        h.c.handle_end_txn(20, "tx", 101, 0, TxnResult::Commit),
        Reply::AfterPersist(_)
    ));
    assert_eq!(
        h.c.handle_end_txn(20, "tx", 101, 0, TxnResult::Commit),
        Reply::Ready(ErrorCode::ConcurrentTransactions)
    );
}

#[test]
fn end_txn_in_empty_state_is_invalid_txn_state() {
    let mut h = ready();
    assert_eq!(
        h.end(20, "tx", 101, 0, TxnResult::Commit),
        ErrorCode::InvalidTxnState
    );
    assert_eq!(
        h.end(20, "tx", 101, 0, TxnResult::Abort),
        ErrorCode::InvalidTxnState
    );
}

#[test]
fn end_txn_retry_while_markers_are_written_is_concurrent_transactions() {
    let mut h = ongoing();
    assert_eq!(h.end(20, "tx", 101, 0, TxnResult::Commit), ErrorCode::None);
    assert_eq!(
        h.end(21, "tx", 101, 0, TxnResult::Commit),
        ErrorCode::ConcurrentTransactions
    );
}

#[test]
fn end_txn_with_other_result_while_prepared_is_invalid_txn_state() {
    let mut h = ongoing();
    assert_eq!(h.end(20, "tx", 101, 0, TxnResult::Abort), ErrorCode::None);
    assert_eq!(
        h.end(21, "tx", 101, 0, TxnResult::Commit),
        ErrorCode::InvalidTxnState
    );
}

#[test]
fn end_txn_retry_after_completion_is_none() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Commit);
    h.write_markers(21);
    let before = h.log.len();
    assert_eq!(h.end(22, "tx", 101, 0, TxnResult::Commit), ErrorCode::None);
    assert_eq!(h.log.len(), before);
}

#[test]
fn end_txn_with_other_result_after_completion_is_invalid_txn_state() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Commit);
    h.write_markers(21);
    assert_eq!(
        h.end(22, "tx", 101, 0, TxnResult::Abort),
        ErrorCode::InvalidTxnState
    );
}

#[test]
fn end_txn_after_timeout_abort_is_producer_fenced() {
    let mut h = ongoing();
    h.c.tick(10 + i64::from(TIMEOUT_MS) + 1);
    h.drive();
    assert_eq!(
        h.end(70_100, "tx", 101, 0, TxnResult::Commit),
        ErrorCode::ProducerFenced
    );
}

#[test]
fn commit_completes_only_after_every_partition_marker_is_written() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Commit);
    let m = h.markers.pop().unwrap();
    assert_eq!(
        m.partitions.iter().cloned().collect::<Vec<_>>(),
        vec![tp("a", 0), tp("b", 1)]
    );
    assert_eq!(
        h.c.markers_written(21, &m, &[tp("a", 0)]),
        MarkersOutcome::Progress
    );
    assert_eq!(
        h.c.markers_written(21, &m, &[tp("a", 0)]),
        MarkersOutcome::Ignored,
        "duplicate"
    );
    h.drive();
    assert_eq!(h.state("tx"), TxnState::PrepareCommit);
    assert!(matches!(
        h.c.markers_written(22, &m, &[tp("b", 1)]),
        MarkersOutcome::Completing(_)
    ));
    h.drive();
    assert_eq!(h.state("tx"), TxnState::CompleteCommit);
    assert!(h.c.describe("tx").partitions.is_empty());
    assert_eq!(
        h.c.markers_written(23, &m, m.partitions.iter()),
        MarkersOutcome::Ignored,
        "late"
    );
    h.assert_replay_matches();
}

#[test]
fn late_markers_of_an_earlier_transaction_do_not_complete_a_later_one() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Abort);
    let first = h.markers[0].clone();
    h.write_markers(21);
    assert_eq!(
        h.add(22, "tx", 101, 0, &[tp("a", 0), tp("b", 1)]),
        ErrorCode::None
    );
    h.end(23, "tx", 101, 0, TxnResult::Abort);
    assert_eq!(
        h.c.markers_written(24, &first, first.partitions.iter()),
        MarkersOutcome::Ignored
    );
    assert_eq!(h.state("tx"), TxnState::PrepareAbort);
}

#[test]
fn restart_in_prepare_state_emits_the_markers_again() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Commit);
    let before = h.markers.pop().unwrap();
    let mut restarted = TransactionCoordinator::replay(h.c.config, &h.log);
    let Some(Effect::WriteMarkers(again)) = restarted.poll_effect() else {
        panic!("markers re-emitted")
    };
    assert_eq!(again, before);
    assert!(matches!(
        restarted.markers_written(21, &again, again.partitions.iter()),
        MarkersOutcome::Completing(_)
    ));
}

#[test]
fn transaction_without_partitions_completes_without_markers() {
    let mut h = ready();
    assert_eq!(h.add(1, "tx", 101, 0, &[]), ErrorCode::None);
    assert_eq!(h.end(2, "tx", 101, 0, TxnResult::Commit), ErrorCode::None);
    assert!(h.markers.is_empty());
    assert_eq!(h.state("tx"), TxnState::CompleteCommit);
}

// ---- Timeouts and expiry (D.9, C.8) ----

#[test]
fn timeout_aborts_with_an_epoch_bump_that_fences_the_zombie() {
    let mut h = ongoing();
    h.c.tick(10 + i64::from(TIMEOUT_MS));
    assert_eq!(
        h.c.poll_effect(),
        None,
        "not yet: start + timeout must be < now"
    );
    h.c.tick(10 + i64::from(TIMEOUT_MS) + 1);
    assert_eq!(h.drive(), vec![Completion::Internal]);
    assert_eq!(h.state("tx"), TxnState::PrepareAbort);
    assert_eq!(h.markers[0].producer_epoch, 1);
    assert_eq!(
        h.add(70_100, "tx", 101, 0, &[tp("a", 0)]),
        ErrorCode::ProducerFenced
    );
    h.write_markers(70_200);
    assert_eq!(h.state("tx"), TxnState::CompleteAbort);
    // The fenced producer re-initialises with its old epoch: fenced.
    assert_eq!(
        h.init(70_300, "tx", 101, 0).error,
        ErrorCode::ProducerFenced
    );
    assert_eq!(h.init(70_300, "tx", -1, -1).producer_epoch, 2);
    h.assert_replay_matches();
}

#[test]
fn later_add_partitions_do_not_extend_the_timeout() {
    let mut h = ongoing();
    assert_eq!(h.add(50_000, "tx", 101, 0, &[tp("c", 0)]), ErrorCode::None);
    assert_eq!(h.c.next_deadline_ms(), Some(10 + i64::from(TIMEOUT_MS) + 1));
    h.c.tick(10 + i64::from(TIMEOUT_MS) + 1);
    h.drive();
    assert_eq!(h.state("tx"), TxnState::PrepareAbort);
}

#[test]
fn idle_transactional_id_expires_with_a_tombstone() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Commit);
    h.write_markers(30);
    h.c.tick(30 + DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS - 1);
    assert_eq!(h.c.poll_effect(), None);
    h.c.tick(30 + DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS);
    h.drive();
    assert_eq!(h.log.last().unwrap().value, None);
    assert_eq!(h.c.describe("tx").error, ErrorCode::TransactionalIdNotFound);
    h.assert_replay_matches();
}

#[test]
fn zombie_of_expired_id_gets_invalid_producer_id_mapping() {
    let mut h = ready();
    h.c.tick(DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS);
    h.drive();
    let now = DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS + 1;
    assert_eq!(
        h.add(now, "tx", 101, 0, &[tp("a", 0)]),
        ErrorCode::InvalidProducerIdMapping
    );
    let r = h.init(now, "tx", -1, -1);
    assert_eq!(
        (r.producer_id, r.producer_epoch),
        (102, 0),
        "a new producer id"
    );
}

#[test]
fn requests_during_expiry_write_get_concurrent_transactions() {
    let mut h = ready();
    h.c.tick(DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS);
    assert_eq!(
        h.init(DEFAULT_TRANSACTIONAL_ID_EXPIRATION_MS, "tx", -1, -1)
            .error,
        ErrorCode::ConcurrentTransactions
    );
}

#[test]
fn ongoing_transaction_never_expires() {
    let mut h = Harness::with_config(CoordinatorConfig {
        transactional_id_expiration_ms: 5,
        ..Default::default()
    });
    h.init(0, "tx", -1, -1);
    h.add(1, "tx", 101, 0, &[tp("a", 0)]);
    h.c.tick(100);
    h.drive();
    assert_eq!(h.state("tx"), TxnState::Ongoing);
}

#[test]
fn failed_completion_write_is_retried_by_tick() {
    let mut h = ongoing();
    h.end(20, "tx", 101, 0, TxnResult::Commit);
    let m = h.markers.pop().unwrap();
    let MarkersOutcome::Completing(id) = h.c.markers_written(21, &m, m.partitions.iter()) else {
        panic!()
    };
    while h.c.poll_effect().is_some() {}
    assert_eq!(h.c.persist_failed(id), Ok(Completion::Internal));
    assert_eq!(h.state("tx"), TxnState::PrepareCommit);
    h.c.tick(22);
    h.drive();
    assert_eq!(h.state("tx"), TxnState::CompleteCommit);
}

// ---- Describe / List ----

#[test]
fn describe_unknown_id_is_transactional_id_not_found() {
    let h = Harness::new();
    assert_eq!(
        h.c.describe("nope").error,
        ErrorCode::TransactionalIdNotFound
    );
}

#[test]
fn list_filters_by_state_producer_id_and_duration() {
    let mut h = ongoing();
    h.init(0, "idle", -1, -1);
    let all = h.c.list(100, &[], &[], -1);
    assert_eq!(
        all.iter().map(|t| &*t.transactional_id).collect::<Vec<_>>(),
        vec!["idle", "tx"]
    );
    let ongoing = h.c.list(100, &[TxnState::Ongoing], &[], -1);
    assert_eq!(ongoing.len(), 1);
    assert_eq!(ongoing[0].producer_id, 101);
    assert_eq!(h.c.list(100, &[], &[102], -1).len(), 1);
    assert_eq!(h.c.list(100, &[], &[], 89).len(), 1);
    assert_eq!(h.c.list(100, &[], &[], 90).len(), 0);
}
