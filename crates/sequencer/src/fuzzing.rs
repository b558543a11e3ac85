//! Properties the fuzz targets check (the target files only call these).

use crate::codec::with_header;
use crate::{ProducerIdBlock, ProducerStateConfig, ProducerStateTable, allocator, snapshot};

/// Arbitrary bytes decoded as a producer-state snapshot and as a producer-id block record must
/// either fail with an error or give a value that re-encodes to exactly the same bytes (and, for
/// a table, satisfies the table's invariants). The bytes are also tried behind a valid header and
/// checksum, so the fuzzer reaches the field checks without having to forge a CRC.
///
/// # Panics
///
/// When the property does not hold: that is the bug the fuzzer reports.
pub fn sequencer_snapshot(data: &[u8]) {
    check_snapshot(data);
    check_block(data);
    check_snapshot(&with_header(snapshot::MAGIC, snapshot::VERSION, data));
    check_block(&with_header(allocator::MAGIC, allocator::VERSION, data));
}

fn check_snapshot(bytes: &[u8]) {
    if let Ok(decoded) = ProducerStateTable::decode_snapshot(bytes, ProducerStateConfig::default())
    {
        let invariants = decoded.table.check_invariants();
        assert!(
            invariants.is_ok(),
            "decoded snapshot breaks an invariant: {invariants:?}"
        );
        assert!(
            decoded.table.encode_snapshot(decoded.log_end_offset) == bytes,
            "snapshot does not re-encode to the same bytes"
        );
    }
}

fn check_block(bytes: &[u8]) {
    if let Ok(block) = ProducerIdBlock::decode(bytes) {
        assert!(
            block.encode() == bytes,
            "producer id block does not re-encode to the same bytes"
        );
    }
}

/// The table's structural invariants (non-negative ids and offsets, valid cached batches, an
/// open-transaction index that matches the entries), for tests outside the crate.
///
/// # Errors
///
/// A description of the first broken invariant.
pub fn check_table_invariants(table: &ProducerStateTable) -> Result<(), String> {
    table.check_invariants()
}
