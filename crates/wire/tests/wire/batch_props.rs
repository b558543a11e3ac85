//! Property tests of record batches: a plain model (a list of records with absolute timestamps
//! and offsets) against the builder, the view and the record iterator; patching as random
//! transitions with the expected header checked after every step; corruption detection; and
//! arbitrary or mutated bytes through the fuzzing properties.

use bytes::Bytes;
use proptest::prelude::*;
use semel_wire::{
    DecodeError, DecodeErrorKind, Record, RecordBatch, RecordBatchBuilder, RecordHeader,
    TimestampType, patch_base_offset, patch_log_append_time, patch_partition_leader_epoch,
};

/// The model of one record: what a producer hands over.
#[derive(Debug, Clone, PartialEq)]
struct ModelRecord {
    timestamp_ms: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

#[derive(Debug, Clone)]
struct ModelBatch {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    partition_leader_epoch: i32,
    records: Vec<ModelRecord>,
}

fn blob() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..12),
        1 => proptest::collection::vec(any::<u8>(), 100..300),
    ]
}

fn model_record() -> impl Strategy<Value = ModelRecord> {
    (
        -1_000i64..1_000_000,
        proptest::option::of(blob()),
        proptest::option::of(blob()),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..8),
                proptest::option::of(blob()),
            ),
            0..3,
        ),
    )
        .prop_map(|(ts, key, value, headers)| ModelRecord {
            timestamp_ms: 1_700_000_000_000 + ts,
            key,
            value,
            headers,
        })
}

fn model_batch() -> impl Strategy<Value = ModelBatch> {
    (
        prop_oneof![Just(-1i64), 0i64..i64::MAX],
        any::<i16>(),
        0i32..i32::MAX,
        any::<bool>(),
        any::<i32>(),
        proptest::collection::vec(model_record(), 1..20),
    )
        .prop_map(|(pid, epoch, seq, txn, ple, records)| ModelBatch {
            producer_id: pid,
            producer_epoch: if pid < 0 { -1 } else { epoch },
            base_sequence: if pid < 0 { -1 } else { seq },
            transactional: txn && pid >= 0,
            partition_leader_epoch: ple,
            records,
        })
}

fn build(m: &ModelBatch) -> Bytes {
    let mut b = RecordBatchBuilder::new();
    b.producer(m.producer_id, m.producer_epoch, m.base_sequence)
        .transactional(m.transactional)
        .partition_leader_epoch(m.partition_leader_epoch);
    for r in &m.records {
        b.append(
            r.timestamp_ms,
            r.key.clone().map(Bytes::from),
            r.value.clone().map(Bytes::from),
            r.headers
                .iter()
                .map(|(k, v)| RecordHeader {
                    key: Bytes::from(k.clone()),
                    value: v.clone().map(Bytes::from),
                })
                .collect(),
        )
        .unwrap();
    }
    b.build().unwrap()
}

fn to_model(batch: &RecordBatch, r: &Record) -> ModelRecord {
    ModelRecord {
        timestamp_ms: batch.base_timestamp() + r.timestamp_delta,
        key: r.key.as_ref().map(|b| b.to_vec()),
        value: r.value.as_ref().map(|b| b.to_vec()),
        headers: r
            .headers
            .iter()
            .map(|h| (h.key.to_vec(), h.value.as_ref().map(|v| v.to_vec())))
            .collect(),
    }
}

/// A patch the broker may apply to a stored batch.
#[derive(Debug, Clone)]
enum Patch {
    BaseOffset(i64),
    LeaderEpoch(i32),
    LogAppendTime(i64),
}

fn patch() -> impl Strategy<Value = Patch> {
    prop_oneof![
        any::<i64>().prop_map(Patch::BaseOffset),
        any::<i32>().prop_map(Patch::LeaderEpoch),
        any::<i64>().prop_map(Patch::LogAppendTime),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// builder → view → iterator gives back exactly the model's records and header fields.
    #[test]
    fn built_batches_read_back_as_the_model(m in model_batch()) {
        let bytes = build(&m);
        let batch = RecordBatch::parse(bytes.clone()).unwrap();
        batch.validate_produce().unwrap();
        let n = m.records.len() as i32;
        prop_assert_eq!(batch.records_count(), n);
        prop_assert_eq!(batch.last_offset_delta(), n - 1);
        prop_assert_eq!(batch.base_offset(), 0);
        prop_assert_eq!(batch.producer_id(), m.producer_id);
        prop_assert_eq!(batch.producer_epoch(), m.producer_epoch);
        prop_assert_eq!(batch.base_sequence(), m.base_sequence);
        prop_assert_eq!(batch.is_transactional(), m.transactional);
        prop_assert_eq!(batch.partition_leader_epoch(), m.partition_leader_epoch);
        prop_assert_eq!(batch.base_timestamp(), m.records[0].timestamp_ms);
        prop_assert_eq!(
            batch.max_timestamp(),
            m.records.iter().map(|r| r.timestamp_ms).max().unwrap()
        );
        prop_assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
        let records: Vec<Record> = batch.records().unwrap().map(Result::unwrap).collect();
        for (i, r) in records.iter().enumerate() {
            prop_assert_eq!(r.offset_delta, i as i32);
            prop_assert_eq!(r.attributes, 0);
        }
        let back: Vec<ModelRecord> = records.iter().map(|r| to_model(&batch, r)).collect();
        prop_assert_eq!(back, m.records.clone());
        // The borrowing iterator reads the same records.
        let borrowed: Vec<ModelRecord> = batch
            .records_ref()
            .unwrap()
            .map(Result::unwrap)
            .map(|r| ModelRecord {
                timestamp_ms: batch.base_timestamp() + r.timestamp_delta,
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                headers: r
                    .headers()
                    .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                    .collect(),
            })
            .collect();
        prop_assert_eq!(borrowed, m.records.clone());
        // Every key and value is a slice of the batch, not a copy.
        let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
        for r in &records {
            for b in r.key.iter().chain(r.value.iter()).filter(|b| !b.is_empty()) {
                prop_assert!(range.contains(&(b.as_ptr() as usize)));
            }
        }
        // Rebuilding from the header and the parsed records gives the same bytes.
        let mut again = RecordBatchBuilder::from_header(batch.header());
        for r in &records {
            again.push(r).unwrap();
        }
        prop_assert_eq!(again.build().unwrap(), bytes);
    }

    /// Random patch sequences: after every step the batch validates, the header matches the
    /// expected one, the records are untouched, and offset/epoch patches leave the CRC alone.
    #[test]
    fn patching_keeps_the_batch_valid(m in model_batch(), patches in proptest::collection::vec(patch(), 1..8)) {
        let original = RecordBatch::parse(build(&m)).unwrap();
        let mut expected = *original.header();
        let mut bytes = original.as_bytes().to_vec();
        for p in patches {
            let crc_before = expected.crc;
            match p {
                Patch::BaseOffset(o) => {
                    patch_base_offset(&mut bytes, o).unwrap();
                    expected.base_offset = o;
                }
                Patch::LeaderEpoch(e) => {
                    patch_partition_leader_epoch(&mut bytes, e).unwrap();
                    expected.partition_leader_epoch = e;
                }
                Patch::LogAppendTime(t) => {
                    patch_log_append_time(&mut bytes, t).unwrap();
                    expected.max_timestamp = t;
                    expected.attributes |= 0x08;
                }
            }
            let batch = RecordBatch::parse(Bytes::from(bytes.clone())).unwrap();
            batch.validate().unwrap();
            let got = *batch.header();
            if !matches!(p, Patch::LogAppendTime(_)) {
                prop_assert_eq!(got.crc, crc_before);
            }
            // The new CRC itself is checked by `validate` above.
            expected.crc = got.crc;
            prop_assert_eq!(got, expected);
            prop_assert_eq!(batch.records_bytes(), original.records_bytes());
        }
    }

    /// Any single-bit flip in the CRC-covered range, or in the stored CRC itself, is detected.
    #[test]
    fn any_single_bit_flip_under_the_crc_is_detected(m in model_batch(), pick in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = build(&m).to_vec();
        let at = 17 + pick.index(bytes.len() - 17);
        bytes[at] ^= 1 << bit;
        let batch = RecordBatch::parse(Bytes::from(bytes)).unwrap();
        prop_assert!(batch.validate().is_err());
        prop_assert!(batch.validate_produce().is_err());
    }

    /// Concatenated batches split back into the same batches.
    #[test]
    fn split_gives_back_concatenated_batches(ms in proptest::collection::vec(model_batch(), 0..4)) {
        let parts: Vec<Bytes> = ms.iter().map(build).collect();
        let all: Vec<u8> = parts.iter().flat_map(|b| b.to_vec()).collect();
        let got: Vec<Bytes> = RecordBatch::split(Bytes::from(all))
            .map(|b| b.unwrap().into_bytes())
            .collect();
        prop_assert_eq!(got, parts);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic and keep the fuzzing properties.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        semel_wire::fuzzing::wire_record_batch(&data);
        semel_wire::fuzzing::wire_records(&data);
    }

    /// Valid batches with a few bytes overwritten (then the CRC fixed or not) never panic and
    /// keep the fuzzing properties: this reaches the record decoder far more often than noise.
    #[test]
    fn mutated_batches_never_panic(
        m in model_batch(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        fix_crc in any::<bool>(),
    ) {
        let mut bytes = build(&m).to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if fix_crc && bytes.len() > 21 {
            let crc = crc32c::crc32c(&bytes[21..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        semel_wire::fuzzing::wire_record_batch(&bytes);
        let mut records_region = vec![m.records.len() as u8];
        records_region.extend_from_slice(bytes.get(61..).unwrap_or_default());
        semel_wire::fuzzing::wire_records(&records_region);
    }
}

/// `validate_produce` as NOTES.md B.6 states it, from public parts only: base offset, then
/// `validate`, then the header rules, then the records as `records()` yields them.
fn reference_validate_produce(b: &RecordBatch) -> Result<(), DecodeError> {
    let invalid = |offset, what| DecodeError::new(offset, DecodeErrorKind::InvalidRecord { what });
    if b.base_offset() != 0 {
        return Err(invalid(0, "base offset of a produced batch must be 0"));
    }
    b.validate()?;
    let count = b.records_count();
    if count <= 0 {
        return Err(invalid(
            57,
            "a produced batch must hold at least one record",
        ));
    }
    if i64::from(b.last_offset_delta()) + 1 != i64::from(count) {
        return Err(invalid(
            23,
            "last offset delta + 1 differs from the records count",
        ));
    }
    if b.is_control() {
        return Err(invalid(21, "producers may not write control batches"));
    }
    if b.producer_id() >= 0 && b.base_sequence() < 0 {
        return Err(invalid(53, "an idempotent batch needs a base sequence"));
    }
    if b.is_compressed() {
        return Ok(());
    }
    let mut records = b.records()?;
    let mut expected = 0;
    loop {
        let at = records.position();
        let Some(record) = records.next() else {
            return Ok(());
        };
        if record?.offset_delta != expected {
            return Err(invalid(at, "record offset deltas must run 0, 1, 2, …"));
        }
        expected += 1;
    }
}

fn big_model_batch() -> impl Strategy<Value = ModelBatch> {
    (
        model_batch(),
        proptest::collection::vec(2_000usize..9_000, 1..30),
    )
        .prop_map(|(mut m, sizes)| {
            m.records = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| ModelRecord {
                    timestamp_ms: 1_700_000_000_000 + i as i64,
                    key: Some(vec![i as u8; 3]),
                    value: Some(vec![0xab; n]),
                    headers: vec![],
                })
                .collect();
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The one-pass CRC + record walk of `validate_produce` gives exactly the verdict (the same
    /// error, at the same byte) of its plain definition, on batches large enough to span many
    /// CRC blocks, with a few bytes changed and the CRC fixed or not.
    #[test]
    fn validate_produce_matches_its_plain_definition(
        m in prop_oneof![model_batch(), big_model_batch()],
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        fix_crc in any::<bool>(),
    ) {
        let mut bytes = build(&m).to_vec();
        for (at, byte) in edits {
            // Keep the framing so that the batch still parses: leave bytes 8..12 and 16 alone.
            let i = at.index(bytes.len());
            if !(8..12).contains(&i) && i != 16 {
                bytes[i] = byte;
            }
        }
        if fix_crc {
            let crc = crc32c::crc32c(&bytes[21..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        let batch = RecordBatch::parse(Bytes::from(bytes)).unwrap();
        prop_assert_eq!(batch.validate_produce(), reference_validate_produce(&batch));
    }
}
