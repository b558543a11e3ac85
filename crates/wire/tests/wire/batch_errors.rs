//! Every way a record batch can be refused, with the error and offset it is refused with.

use bytes::{BufMut, Bytes, BytesMut};
use semel_wire::{
    DecodeErrorKind, Record, RecordBatch, RecordBatchBuilder, patch_base_offset,
    patch_log_append_time, patch_partition_leader_epoch,
};

fn batch_of(n: i32) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new();
    b.producer(1, 0, 0);
    for i in 0..n {
        b.append(
            1000 + i64::from(i),
            Some(Bytes::from(format!("k{i}"))),
            Some(Bytes::from(format!("value {i}"))),
            vec![],
        )
        .unwrap();
    }
    b.build().unwrap().to_vec()
}

fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn parse(v: &[u8]) -> RecordBatch {
    RecordBatch::parse(Bytes::copy_from_slice(v)).unwrap()
}

fn kind_of_produce_error(v: &[u8]) -> DecodeErrorKind {
    parse(v).validate_produce().unwrap_err().kind
}

/// A magic-1 message (NOTES.md B.7): offset, size, CRC-32, magic 1, attributes, timestamp,
/// key, value.
fn legacy_message(magic: u8) -> Vec<u8> {
    let mut m = BytesMut::new();
    m.put_i64(0); // offset
    m.put_i32(if magic == 1 { 22 } else { 14 }); // message size
    m.put_u32(0xdead_beef); // crc (IEEE; not checked before the magic)
    m.put_u8(magic);
    m.put_u8(0); // attributes
    if magic == 1 {
        m.put_i64(1000); // timestamp
    }
    m.put_i32(-1); // null key
    m.put_i32(0); // empty value
    m.to_vec()
}

#[test]
fn magic_0_and_1_message_sets_are_refused_as_invalid_record() {
    for magic in [0u8, 1] {
        let v = legacy_message(magic);
        let err = RecordBatch::parse(Bytes::from(v.clone())).unwrap_err();
        assert_eq!(err.offset, 16);
        assert_eq!(
            err.kind,
            DecodeErrorKind::UnsupportedMagic { magic: magic as i8 }
        );
        assert_eq!(err.kafka_error_code(), 87);
        assert!(err.to_string().contains("only magic 2"));
        let first = RecordBatch::split(Bytes::from(v)).next().unwrap();
        assert_eq!(first.unwrap_err().offset, 16);
        let mut patched = legacy_message(magic);
        assert!(patch_base_offset(&mut patched, 5).is_err());
        assert_eq!(patched, legacy_message(magic));
    }
}

#[test]
fn input_shorter_than_the_magic_byte_is_truncated() {
    let err = RecordBatch::parse(Bytes::from_static(&[0; 10])).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::Truncated {
            needed: 17,
            remaining: 10
        }
    );
}

#[test]
fn a_batch_length_below_the_header_is_an_invalid_length() {
    let mut v = batch_of(1);
    v[8..12].copy_from_slice(&48i32.to_be_bytes());
    let err = RecordBatch::parse(Bytes::from(v)).unwrap_err();
    assert_eq!(err.offset, 8);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidLength {
            what: "record batch",
            len: 48
        }
    );
    let mut v = batch_of(1);
    v[8..12].copy_from_slice(&(-1i32).to_be_bytes());
    assert!(RecordBatch::parse(Bytes::from(v)).is_err());
}

#[test]
fn a_batch_length_beyond_the_input_is_truncated() {
    let v = batch_of(2);
    let err = RecordBatch::parse(Bytes::copy_from_slice(&v[..v.len() - 1])).unwrap_err();
    assert!(matches!(err.kind, DecodeErrorKind::Truncated { .. }));
}

#[test]
fn bytes_after_one_batch_are_trailing_for_parse_but_split_reads_them() {
    let one = batch_of(2);
    let two = batch_of(3);
    let mut both = one.clone();
    both.extend_from_slice(&two);
    let err = RecordBatch::parse(Bytes::from(both.clone())).unwrap_err();
    assert_eq!(err.offset, one.len());
    assert_eq!(err.kind, DecodeErrorKind::TrailingBytes { len: two.len() });
    let batches: Vec<RecordBatch> = RecordBatch::split(Bytes::from(both))
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(&batches[0].as_bytes()[..], &one[..]);
    assert_eq!(batches[1].records_count(), 3);
}

#[test]
fn split_reports_a_truncated_last_batch_at_its_offset() {
    let mut v = batch_of(2);
    let first = v.len();
    v.extend_from_slice(&batch_of(1)[..30]);
    let mut it = RecordBatch::split(Bytes::from(v));
    it.next().unwrap().unwrap();
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(err.offset, first);
    assert!(it.next().is_none());
}

#[test]
fn a_crc_mismatch_is_corrupt_message_at_byte_17() {
    let mut v = batch_of(2);
    let last = v.len() - 1;
    v[last] ^= 1;
    let err = parse(&v).validate().unwrap_err();
    assert_eq!(err.offset, 17);
    assert!(matches!(err.kind, DecodeErrorKind::CrcMismatch { .. }));
    assert_eq!(err.kafka_error_code(), 2);
}

#[test]
fn an_unknown_compression_codec_is_invalid() {
    let mut v = batch_of(1);
    v[22] = 5;
    fix_crc(&mut v);
    assert_eq!(
        parse(&v).validate().unwrap_err().kind,
        DecodeErrorKind::InvalidRecord {
            what: "unknown compression codec"
        }
    );
}

#[test]
fn a_compressed_batch_is_carried_but_not_iterated() {
    // A zstd batch: the header is all a broker needs; the blob stays opaque.
    let mut v = batch_of(3);
    v[22] = 4;
    fix_crc(&mut v);
    let batch = parse(&v);
    batch.validate().unwrap();
    batch.validate_produce().unwrap();
    assert!(batch.is_compressed());
    let err = batch.records().unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::CompressedRecords { codec: 4 });
    assert!(err.to_string().contains("compressed"));
    // Header checks still apply to compressed batches.
    v[23..27].copy_from_slice(&5i32.to_be_bytes());
    fix_crc(&mut v);
    assert!(matches!(
        kind_of_produce_error(&v),
        DecodeErrorKind::InvalidRecord { .. }
    ));
}

#[test]
fn the_builder_refuses_compression_bits() {
    let mut b = RecordBatchBuilder::new();
    b.attributes(1);
    assert!(b.build().is_err());
}

#[test]
fn a_produced_batch_must_start_at_offset_zero() {
    let mut v = batch_of(1);
    patch_base_offset(&mut v, 7).unwrap();
    assert_eq!(
        kind_of_produce_error(&v),
        DecodeErrorKind::InvalidRecord {
            what: "base offset of a produced batch must be 0"
        }
    );
    // It is still a valid batch as stored by a broker.
    parse(&v).validate().unwrap();
}

#[test]
fn last_offset_delta_must_match_the_records_count() {
    let mut b = RecordBatchBuilder::new();
    b.last_offset_delta(5);
    b.append(1, None, None, vec![]).unwrap();
    let v = b.build().unwrap();
    assert_eq!(
        kind_of_produce_error(&v),
        DecodeErrorKind::InvalidRecord {
            what: "last offset delta + 1 differs from the records count"
        }
    );
}

#[test]
fn an_empty_produced_batch_is_invalid() {
    let v = RecordBatchBuilder::new().build().unwrap();
    let batch = parse(&v);
    batch.validate().unwrap();
    assert_eq!(batch.last_offset_delta(), -1);
    assert_eq!(batch.records().unwrap().count(), 0);
    assert!(matches!(
        kind_of_produce_error(&v),
        DecodeErrorKind::InvalidRecord { .. }
    ));
}

#[test]
fn an_idempotent_batch_needs_a_base_sequence() {
    let mut b = RecordBatchBuilder::new();
    b.producer(9, 0, -1);
    b.append(1, None, None, vec![]).unwrap();
    assert_eq!(
        kind_of_produce_error(&b.build().unwrap()),
        DecodeErrorKind::InvalidRecord {
            what: "an idempotent batch needs a base sequence"
        }
    );
}

#[test]
fn record_offset_deltas_must_run_from_zero_without_gaps() {
    let mut b = RecordBatchBuilder::new();
    b.last_offset_delta(1);
    for delta in [0, 2] {
        b.push(&Record {
            attributes: 0,
            timestamp_delta: 0,
            offset_delta: delta,
            key: None,
            value: None,
            headers: vec![],
        })
        .unwrap();
    }
    let v = b.build().unwrap();
    let err = parse(&v).validate_produce().unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidRecord {
            what: "record offset deltas must run 0, 1, 2, …"
        }
    );
    assert_eq!(err.offset, 61 + 7); // the second record, after a 7-byte first one
}

#[test]
fn a_records_count_above_the_records_is_an_error() {
    let mut v = batch_of(2);
    v[57..61].copy_from_slice(&3i32.to_be_bytes());
    v[23..27].copy_from_slice(&2i32.to_be_bytes());
    fix_crc(&mut v);
    let batch = parse(&v);
    batch.validate().unwrap();
    let results: Vec<_> = batch.records().unwrap().collect();
    assert_eq!(results.len(), 3);
    assert!(results[2].is_err());
    assert!(batch.validate_produce().is_err());
}

#[test]
fn a_records_count_below_the_records_leaves_trailing_bytes() {
    let mut v = batch_of(2);
    v[57..61].copy_from_slice(&1i32.to_be_bytes());
    v[23..27].copy_from_slice(&0i32.to_be_bytes());
    fix_crc(&mut v);
    let batch = parse(&v);
    let results: Vec<_> = batch.records().unwrap().collect();
    assert_eq!(results.len(), 2);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::CorruptBatch {
            what: "bytes left after the last record"
        }
    );
    assert_eq!(err.kafka_error_code(), 2);
    assert!(batch.validate_produce().is_err());
}

#[test]
fn a_records_count_the_region_cannot_hold_fails_validation() {
    let mut v = batch_of(1);
    v[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    fix_crc(&mut v);
    assert!(matches!(
        parse(&v).validate().unwrap_err().kind,
        DecodeErrorKind::CorruptBatch { .. }
    ));
    v[57..61].copy_from_slice(&(-1i32).to_be_bytes());
    fix_crc(&mut v);
    assert!(parse(&v).validate().is_err());
    assert!(parse(&v).records().is_err());
}

#[test]
fn a_record_length_that_disagrees_with_its_contents_is_corrupt() {
    let mut v = batch_of(1);
    // The record is "k0" / "value 0": body 1+1+1+3+8+1 = 15 bytes (length 0x1e). Claim 14.
    assert_eq!(v[61], 0x1e);
    v[61] = 0x1c;
    let err = parse(&v).records().unwrap().next().unwrap().unwrap_err();
    assert_eq!(err.offset, 61);
    assert!(matches!(err.kind, DecodeErrorKind::CorruptBatch { .. }));
}

#[test]
fn a_huge_header_count_is_refused_before_allocating() {
    let mut b = RecordBatchBuilder::new();
    b.append(1, None, None, vec![]).unwrap();
    let mut v = b.build().unwrap().to_vec();
    // Record: length, attributes, ts, offset, key -1, value -1, header count 0 at byte 67.
    assert_eq!(v.len(), 68);
    // Replace the header count with varint 2^30 (zigzag) and grow the record length to match.
    v.truncate(67);
    v.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
    v[61] = 2 * 10;
    let len = (v.len() - 12) as i32;
    v[8..12].copy_from_slice(&len.to_be_bytes());
    fix_crc(&mut v);
    let err = parse(&v).records().unwrap().next().unwrap().unwrap_err();
    assert_eq!(err.offset, 67);
    assert!(matches!(
        err.kind,
        DecodeErrorKind::InvalidLength {
            what: "record headers",
            ..
        }
    ));
}

#[test]
fn a_null_header_key_is_refused() {
    let mut b = RecordBatchBuilder::new();
    b.append(
        1,
        None,
        None,
        vec![semel_wire::RecordHeader {
            key: Bytes::from_static(b"a"),
            value: None,
        }],
    )
    .unwrap();
    let mut v = b.build().unwrap().to_vec();
    // The header key length 1 ("a") becomes -1: a null key, which the protocol forbids.
    let at = v.len() - 3;
    assert_eq!(&v[at..], &[0x02, b'a', 0x01]);
    v[at] = 0x01;
    fix_crc(&mut v);
    let err = parse(&v).records().unwrap().next().unwrap().unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::UnexpectedNull {
            field: "header key"
        }
    );
}

#[test]
fn patching_offsets_leaves_the_crc_alone() {
    let mut v = batch_of(3);
    let crc = parse(&v).crc();
    patch_base_offset(&mut v, 1_000_000).unwrap();
    patch_partition_leader_epoch(&mut v, 12).unwrap();
    let batch = parse(&v);
    assert_eq!(batch.crc(), crc);
    batch.validate().unwrap();
    assert_eq!(batch.base_offset(), 1_000_000);
    assert_eq!(batch.last_offset(), 1_000_002);
    assert_eq!(batch.partition_leader_epoch(), 12);
}

#[test]
fn log_append_time_updates_the_crc_as_a_full_recompute_would() {
    let mut v = batch_of(5);
    patch_log_append_time(&mut v, 99_999).unwrap();
    let batch = parse(&v);
    assert_eq!(batch.crc(), crc32c::crc32c(&v[21..]));
    assert_eq!(batch.max_timestamp(), 99_999);
    assert_eq!(
        batch.timestamp_type(),
        semel_wire::TimestampType::LogAppendTime
    );
    batch.validate().unwrap();
}

#[test]
fn log_append_time_keeps_a_corrupt_batch_corrupt() {
    let mut v = batch_of(2);
    let last = v.len() - 1;
    v[last] ^= 0x40;
    patch_log_append_time(&mut v, 5).unwrap();
    assert!(matches!(
        parse(&v).validate().unwrap_err().kind,
        DecodeErrorKind::CrcMismatch { .. }
    ));
}

#[test]
fn patching_needs_exactly_one_batch() {
    let mut v = batch_of(1);
    v.push(0);
    assert!(matches!(
        patch_base_offset(&mut v, 1).unwrap_err().kind,
        DecodeErrorKind::TrailingBytes { len: 1 }
    ));
    assert!(patch_log_append_time(&mut v[..40], 1).is_err());
    assert!(patch_partition_leader_epoch(&mut [], 1).is_err());
}
