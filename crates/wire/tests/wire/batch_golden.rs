//! Golden record batches laid out by hand from the spec (NOTES.md B.1-B.5), field by field.
//!
//! The CRCs were computed with a bit-by-bit CRC-32C (reflected polynomial 0x82F63B78), not with
//! the `crc32c` crate the library uses; `reference_crc32c` below is that same algorithm and is
//! checked against the standard check value.

use bytes::Bytes;
use semel_wire::{
    Compression, ControlRecordType, DecodeErrorKind, EndTxnMarker, Record, RecordBatch,
    RecordBatchBuilder, RecordHeader, TimestampType,
};

/// 2023-11-14T22:13:20Z in milliseconds: 0x0000_018B_CFE5_6800.
const T: i64 = 1_700_000_000_000;

/// Bit-by-bit CRC-32C, independent of the library's table/hardware implementation.
fn reference_crc32c(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ if crc & 1 == 1 { 0x82f6_3b78 } else { 0 };
        }
    }
    !crc
}

/// A data batch: producer 42 epoch 3, base sequence 10, two records.
/// Record 0: null key, value "v1", one header ("h" → "x"), at T.
/// Record 1: key "k", value "v2", no headers, at T + 5.
#[rustfmt::skip]
const DATA_BATCH: [u8; 84] = [
    0, 0, 0, 0, 0, 0, 0, 0,         // baseOffset 0
    0, 0, 0, 72,                    // batchLength = 84 - 12
    0xff, 0xff, 0xff, 0xff,         // partitionLeaderEpoch -1
    2,                              // magic
    0x1a, 0xe9, 0xd9, 0x42,         // crc (CRC-32C of bytes 21..84)
    0, 0,                           // attributes: none, CreateTime, not transactional
    0, 0, 0, 1,                     // lastOffsetDelta 1
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp T
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x05, // maxTimestamp T + 5
    0, 0, 0, 0, 0, 0, 0, 42,        // producerId 42
    0, 3,                           // producerEpoch 3
    0, 0, 0, 10,                    // baseSequence 10
    0, 0, 0, 2,                     // recordsCount 2
    // record 0
    0x18,                           // length 12 (zigzag 24)
    0,                              // attributes
    0,                              // timestampDelta 0
    0,                              // offsetDelta 0
    0x01,                           // keyLength -1: null key
    0x04, b'v', b'1',               // valueLength 2, "v1"
    0x02,                           // headersCount 1
    0x02, b'h',                     // header key length 1, "h"
    0x02, b'x',                     // header value length 1, "x"
    // record 1
    0x12,                           // length 9 (zigzag 18)
    0,                              // attributes
    0x0a,                           // timestampDelta 5
    0x02,                           // offsetDelta 1
    0x02, b'k',                     // keyLength 1, "k"
    0x04, b'v', b'2',               // valueLength 2, "v2"
    0x00,                           // headersCount 0
];

/// A control batch with an ABORT marker of producer 42 epoch 3, coordinator epoch 5, at T.
#[rustfmt::skip]
const ABORT_BATCH: [u8; 78] = [
    0, 0, 0, 0, 0, 0, 0, 0,         // baseOffset 0
    0, 0, 0, 66,                    // batchLength = 78 - 12
    0xff, 0xff, 0xff, 0xff,         // partitionLeaderEpoch -1
    2,                              // magic
    0x1a, 0x9e, 0x4c, 0x92,         // crc
    0, 0x30,                        // attributes: isTransactional | isControl
    0, 0, 0, 0,                     // lastOffsetDelta 0
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp T
    0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // maxTimestamp T
    0, 0, 0, 0, 0, 0, 0, 42,        // producerId 42
    0, 3,                           // producerEpoch 3
    0xff, 0xff, 0xff, 0xff,         // baseSequence -1
    0, 0, 0, 1,                     // recordsCount 1
    0x20,                           // record length 16
    0,                              // attributes
    0,                              // timestampDelta 0
    0,                              // offsetDelta 0
    0x08, 0, 0, 0, 0,               // keyLength 4: version 0, type 0 (ABORT)
    0x0c, 0, 0, 0, 0, 0, 5,         // valueLength 6: version 0, coordinatorEpoch 5
    0x00,                           // headersCount 0
];

/// The same with a COMMIT marker: only the control type and the CRC differ.
fn commit_batch() -> [u8; 78] {
    let mut b = ABORT_BATCH;
    b[17..21].copy_from_slice(&[0xee, 0xa0, 0x9a, 0xda]);
    b[69] = 1; // key type 1 (COMMIT)
    b
}

#[test]
fn the_reference_crc_matches_the_standard_check_value() {
    assert_eq!(reference_crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(
        reference_crc32c(&DATA_BATCH[21..]),
        u32::from_be_bytes([0x1a, 0xe9, 0xd9, 0x42])
    );
    assert_eq!(
        reference_crc32c(&commit_batch()[21..]),
        u32::from_be_bytes([0xee, 0xa0, 0x9a, 0xda])
    );
}

fn data_records() -> Vec<Record> {
    vec![
        Record {
            attributes: 0,
            timestamp_delta: 0,
            offset_delta: 0,
            key: None,
            value: Some(Bytes::from_static(b"v1")),
            headers: vec![RecordHeader {
                key: Bytes::from_static(b"h"),
                value: Some(Bytes::from_static(b"x")),
            }],
        },
        Record {
            attributes: 0,
            timestamp_delta: 5,
            offset_delta: 1,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v2")),
            headers: vec![],
        },
    ]
}

#[test]
fn the_builder_writes_the_golden_data_batch() {
    let mut b = RecordBatchBuilder::new();
    b.producer(42, 3, 10);
    b.append(
        T,
        None,
        Some(Bytes::from_static(b"v1")),
        vec![RecordHeader {
            key: Bytes::from_static(b"h"),
            value: Some(Bytes::from_static(b"x")),
        }],
    )
    .unwrap();
    b.append(
        T + 5,
        Some(Bytes::from_static(b"k")),
        Some(Bytes::from_static(b"v2")),
        vec![],
    )
    .unwrap();
    assert_eq!(&b.build().unwrap()[..], &DATA_BATCH[..]);
}

#[test]
fn the_view_reads_every_field_of_the_golden_data_batch() {
    let batch = RecordBatch::parse(Bytes::from_static(&DATA_BATCH)).unwrap();
    batch.validate().unwrap();
    batch.validate_produce().unwrap();
    assert_eq!(batch.base_offset(), 0);
    assert_eq!(batch.batch_length(), 72);
    assert_eq!(batch.partition_leader_epoch(), -1);
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.crc(), 0x1ae9_d942);
    assert_eq!(batch.attributes(), 0);
    assert_eq!(batch.compression(), Some(Compression::None));
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert!(!batch.is_transactional() && !batch.is_control() && !batch.has_delete_horizon());
    assert_eq!(batch.last_offset_delta(), 1);
    assert_eq!(batch.last_offset(), 1);
    assert_eq!(batch.base_timestamp(), T);
    assert_eq!(batch.max_timestamp(), T + 5);
    assert_eq!(batch.producer_id(), 42);
    assert_eq!(batch.producer_epoch(), 3);
    assert_eq!(batch.base_sequence(), 10);
    assert_eq!(batch.last_sequence(), 11);
    assert_eq!(batch.records_count(), 2);
    assert_eq!(batch.end_txn_marker().unwrap(), None);
    let records: Vec<Record> = batch.records().unwrap().map(Result::unwrap).collect();
    assert_eq!(records, data_records());
}

#[test]
fn keys_and_values_share_the_batch_memory() {
    let input = Bytes::from_static(&DATA_BATCH);
    let batch = RecordBatch::parse(input.clone()).unwrap();
    let records: Vec<Record> = batch.records().unwrap().map(Result::unwrap).collect();
    let value = records[0].value.as_ref().unwrap();
    // "v1" starts at byte 67 of the batch: the slice points into the input, no copy.
    assert_eq!(value.as_ptr(), input[67..].as_ptr());
    assert_eq!(
        records[1].key.as_ref().unwrap().as_ptr(),
        input[79..].as_ptr()
    );
}

#[test]
fn the_builder_writes_the_golden_abort_and_commit_batches() {
    for (kind, golden) in [
        (ControlRecordType::Abort, ABORT_BATCH),
        (ControlRecordType::Commit, commit_batch()),
    ] {
        let marker = EndTxnMarker {
            kind,
            coordinator_epoch: 5,
        };
        let built = RecordBatchBuilder::control_batch(42, 3, marker, T).unwrap();
        assert_eq!(&built[..], &golden[..], "{kind:?}");
    }
}

#[test]
fn the_view_reads_the_golden_abort_and_commit_batches() {
    for (kind, golden) in [
        (ControlRecordType::Abort, ABORT_BATCH),
        (ControlRecordType::Commit, commit_batch()),
    ] {
        let batch = RecordBatch::parse(Bytes::copy_from_slice(&golden)).unwrap();
        batch.validate().unwrap();
        assert!(batch.is_control() && batch.is_transactional());
        assert_eq!(batch.base_sequence(), -1);
        assert_eq!(batch.last_sequence(), -1);
        assert_eq!((batch.producer_id(), batch.producer_epoch()), (42, 3));
        assert_eq!(batch.records_count(), 1);
        assert_eq!(
            batch.end_txn_marker().unwrap(),
            Some(EndTxnMarker {
                kind,
                coordinator_epoch: 5
            })
        );
        // Producers may not write control batches.
        assert_eq!(
            batch.validate_produce().unwrap_err().kind,
            DecodeErrorKind::InvalidRecord {
                what: "producers may not write control batches"
            }
        );
    }
}

#[test]
fn an_unknown_control_type_is_ignored() {
    let mut golden = ABORT_BATCH;
    golden[69] = 4; // a KRaft-internal type
    let crc = reference_crc32c(&golden[21..]);
    golden[17..21].copy_from_slice(&crc.to_be_bytes());
    let batch = RecordBatch::parse(Bytes::copy_from_slice(&golden)).unwrap();
    batch.validate().unwrap();
    assert_eq!(batch.end_txn_marker().unwrap(), None);
    let key = batch
        .records()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .key
        .unwrap();
    assert_eq!(
        ControlRecordType::decode_key(&key).unwrap(),
        ControlRecordType::Unknown(4)
    );
}
