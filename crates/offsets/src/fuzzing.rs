//! Fuzzing entry points (used by `fuzz/fuzz_targets/` and replayed over the committed corpus
//! by the crate's tests). Not part of the public API.

use crate::record::OffsetRecord;
use crate::store::{OffsetStore, OffsetsConfig, compact};

/// Arbitrary bytes decoded as an offset-store record must give either a typed error or a
/// record that re-encodes to the very same bytes (with a matching predicted length); a
/// decoded record must also replay and compact without trouble, and compaction must keep
/// replay's result.
pub fn offsets_records(data: &[u8]) {
    let Ok(record) = OffsetRecord::decode(data) else {
        return;
    };
    assert_eq!(record.encoded_len(), data.len(), "predicted length");
    match record.encode() {
        Ok(bytes) => assert_eq!(bytes, data, "re-encoding differs"),
        Err(e) => unreachable!("a decoded record must encode: {e}"),
    }
    let records = vec![record];
    let store = OffsetStore::replay(OffsetsConfig::default(), records.clone());
    let live = compact(records);
    assert_eq!(
        OffsetStore::replay(OffsetsConfig::default(), live.clone()).live_records(),
        live,
        "compaction is not a fixed point"
    );
    assert_eq!(store.live_records(), live);
}
