//! Kafka error codes the coordinator answers with, and their down-mapping for old request versions.

/// A Kafka error code as the transaction coordinator returns it (the newest versions' meaning).
///
/// The coordinator always reports [`ErrorCode::ProducerFenced`] and
/// [`ErrorCode::TransactionAbortable`]; old request versions do not know them. Use
/// [`ErrorCode::code_for`] to get the number to put on the wire for a given API and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// 0: success.
    None,
    /// -1: unexpected internal failure.
    UnknownServerError,
    /// 14: the producer id allocator is not ready yet (retriable).
    CoordinatorLoadInProgress,
    /// 15: the state write failed (retriable).
    CoordinatorNotAvailable,
    /// 42: empty transactional id, or exactly one of producer id / epoch is -1.
    InvalidRequest,
    /// 47: stale epoch (the old-version spelling of `ProducerFenced`).
    InvalidProducerEpoch,
    /// 48: the request is not allowed in the transaction's state.
    InvalidTxnState,
    /// 49: unknown transactional id, or it maps to another producer id.
    InvalidProducerIdMapping,
    /// 50: transaction timeout ≤ 0 or above `transaction.max.timeout.ms`.
    InvalidTransactionTimeout,
    /// 51: a state write is pending or markers are being written (retriable).
    ConcurrentTransactions,
    /// 90: a newer epoch of this transactional id exists.
    ProducerFenced,
    /// 105: DescribeTransactions for an unknown transactional id.
    TransactionalIdNotFound,
    /// 120: verify-only AddPartitionsToTxn: the partition is not in the transaction.
    TransactionAbortable,
}

/// The request a code answers, for [`ErrorCode::code_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnApi {
    /// InitProducerId (22).
    InitProducerId,
    /// AddPartitionsToTxn (24), including the verify-only form.
    AddPartitionsToTxn,
    /// AddOffsetsToTxn (25).
    AddOffsetsToTxn,
    /// EndTxn (26).
    EndTxn,
    /// Produce (0): a verify-only result as the producer sees it (NOTES D.7).
    Produce,
}

impl ErrorCode {
    /// The Kafka error number (newest protocol meaning).
    pub fn code(self) -> i16 {
        match self {
            Self::None => 0,
            Self::UnknownServerError => -1,
            Self::CoordinatorLoadInProgress => 14,
            Self::CoordinatorNotAvailable => 15,
            Self::InvalidRequest => 42,
            Self::InvalidProducerEpoch => 47,
            Self::InvalidTxnState => 48,
            Self::InvalidProducerIdMapping => 49,
            Self::InvalidTransactionTimeout => 50,
            Self::ConcurrentTransactions => 51,
            Self::ProducerFenced => 90,
            Self::TransactionalIdNotFound => 105,
            Self::TransactionAbortable => 120,
        }
    }

    /// The number to send for `api` at request `version`, with Kafka's down-mappings:
    ///
    /// * `ProducerFenced` → `INVALID_PRODUCER_EPOCH` (47) for InitProducerId < v4 and
    ///   AddPartitionsToTxn / AddOffsetsToTxn / EndTxn < v2;
    /// * `TransactionAbortable` → `INVALID_TXN_STATE` (48) for AddPartitionsToTxn < v5;
    /// * for [`TxnApi::Produce`] (a verification result seen by a producer): `ProducerFenced` →
    ///   47, `TransactionAbortable` → 48 below v11, `ConcurrentTransactions`,
    ///   `CoordinatorNotAvailable` and `CoordinatorLoadInProgress` → `NOT_ENOUGH_REPLICAS` (19).
    pub fn code_for(self, api: TxnApi, version: i16) -> i16 {
        let mapped = match (self, api) {
            (Self::ProducerFenced, TxnApi::InitProducerId) if version < 4 => {
                Self::InvalidProducerEpoch
            }
            (
                Self::ProducerFenced,
                TxnApi::AddPartitionsToTxn | TxnApi::AddOffsetsToTxn | TxnApi::EndTxn,
            ) if version < 2 => Self::InvalidProducerEpoch,
            (Self::TransactionAbortable, TxnApi::AddPartitionsToTxn) if version < 5 => {
                Self::InvalidTxnState
            }
            (Self::ProducerFenced, TxnApi::Produce) => Self::InvalidProducerEpoch,
            (Self::TransactionAbortable, TxnApi::Produce) if version < 11 => Self::InvalidTxnState,
            (
                Self::ConcurrentTransactions
                | Self::CoordinatorNotAvailable
                | Self::CoordinatorLoadInProgress,
                TxnApi::Produce,
            ) => return 19,
            (other, _) => other,
        };
        mapped.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_fenced_maps_to_invalid_producer_epoch_for_old_versions() {
        assert_eq!(
            ErrorCode::ProducerFenced.code_for(TxnApi::InitProducerId, 3),
            47
        );
        assert_eq!(
            ErrorCode::ProducerFenced.code_for(TxnApi::InitProducerId, 4),
            90
        );
        for api in [
            TxnApi::AddPartitionsToTxn,
            TxnApi::AddOffsetsToTxn,
            TxnApi::EndTxn,
        ] {
            assert_eq!(ErrorCode::ProducerFenced.code_for(api, 1), 47);
            assert_eq!(ErrorCode::ProducerFenced.code_for(api, 2), 90);
        }
    }

    #[test]
    fn verification_results_map_for_produce() {
        assert_eq!(
            ErrorCode::TransactionAbortable.code_for(TxnApi::Produce, 10),
            48
        );
        assert_eq!(
            ErrorCode::TransactionAbortable.code_for(TxnApi::Produce, 11),
            120
        );
        assert_eq!(ErrorCode::ProducerFenced.code_for(TxnApi::Produce, 11), 47);
        assert_eq!(
            ErrorCode::ConcurrentTransactions.code_for(TxnApi::Produce, 9),
            19
        );
        assert_eq!(
            ErrorCode::InvalidProducerIdMapping.code_for(TxnApi::Produce, 9),
            49
        );
        assert_eq!(
            ErrorCode::TransactionAbortable.code_for(TxnApi::AddPartitionsToTxn, 4),
            48
        );
        assert_eq!(
            ErrorCode::TransactionAbortable.code_for(TxnApi::AddPartitionsToTxn, 5),
            120
        );
    }

    #[test]
    fn other_codes_are_unchanged_by_version() {
        assert_eq!(ErrorCode::None.code_for(TxnApi::EndTxn, 0), 0);
        assert_eq!(
            ErrorCode::ConcurrentTransactions.code_for(TxnApi::EndTxn, 0),
            51
        );
        assert_eq!(ErrorCode::UnknownServerError.code(), -1);
    }
}
