//! Record batches against an independent implementation, the `kafka-protocol` crate: batches
//! written by our builder are read by its decoder and batches written by its encoder are read
//! (and validated as a broker would) by our view, with the same records either way.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType as KpTimestampType,
};
use proptest::prelude::*;
use semel_wire::{RecordBatch, RecordBatchBuilder, RecordHeader};

/// What both sides must agree on for one record.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    timestamp_ms: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    /// Unique keys: the other implementation keeps headers in a map.
    headers: Vec<(String, Option<Vec<u8>>)>,
}

#[derive(Debug, Clone)]
struct Batch {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    records: Vec<Rec>,
}

fn rec() -> impl Strategy<Value = Rec> {
    let bytes = || proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40));
    (
        0i64..100_000,
        bytes(),
        bytes(),
        proptest::collection::btree_map("[a-z]{1,6}", bytes(), 0..3),
    )
        .prop_map(|(dt, key, value, headers)| Rec {
            timestamp_ms: 1_700_000_000_000 + dt,
            key,
            value,
            headers: headers.into_iter().collect(),
        })
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        0i64..1 << 40,
        0i16..i16::MAX,
        0i32..1 << 30,
        any::<bool>(),
        proptest::collection::vec(rec(), 1..12),
    )
        .prop_map(
            |(producer_id, producer_epoch, base_sequence, transactional, records)| Batch {
                producer_id,
                producer_epoch,
                base_sequence,
                transactional,
                records,
            },
        )
}

fn ours(b: &Batch) -> Bytes {
    let mut builder = RecordBatchBuilder::new();
    builder
        .producer(b.producer_id, b.producer_epoch, b.base_sequence)
        .transactional(b.transactional);
    for r in &b.records {
        let headers = r
            .headers
            .iter()
            .map(|(k, v)| RecordHeader {
                key: Bytes::from(k.clone()),
                value: v.clone().map(Bytes::from),
            })
            .collect();
        builder
            .append(
                r.timestamp_ms,
                r.key.clone().map(Bytes::from),
                r.value.clone().map(Bytes::from),
                headers,
            )
            .unwrap();
    }
    builder.build().unwrap()
}

fn theirs(b: &Batch) -> Bytes {
    let records: Vec<KpRecord> = b
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut rec = KpRecord {
                transactional: b.transactional,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: b.producer_id,
                producer_epoch: b.producer_epoch,
                timestamp_type: KpTimestampType::Creation,
                offset: i as i64,
                sequence: b.base_sequence + i as i32,
                timestamp: r.timestamp_ms,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: Default::default(),
            };
            for (k, v) in &r.headers {
                rec.headers
                    .insert(StrBytes::from_string(k.clone()), v.clone().map(Bytes::from));
            }
            rec
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// kafka-protocol reads what our builder writes.
    #[test]
    fn kafka_protocol_reads_our_batches(b in batch()) {
        let mut bytes = ours(&b);
        let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
        prop_assert!(bytes.is_empty());
        prop_assert_eq!(set.records.len(), b.records.len());
        for (i, (got, want)) in set.records.iter().zip(&b.records).enumerate() {
            prop_assert_eq!(got.offset, i as i64);
            prop_assert_eq!(got.sequence, b.base_sequence + i as i32);
            prop_assert_eq!(got.producer_id, b.producer_id);
            prop_assert_eq!(got.producer_epoch, b.producer_epoch);
            prop_assert_eq!(got.transactional, b.transactional);
            prop_assert!(!got.control);
            prop_assert_eq!(got.timestamp, want.timestamp_ms);
            prop_assert_eq!(got.key.as_ref().map(|k| k.to_vec()), want.key.clone());
            prop_assert_eq!(got.value.as_ref().map(|v| v.to_vec()), want.value.clone());
            let headers: Vec<(String, Option<Vec<u8>>)> = got
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
                .collect();
            prop_assert_eq!(&headers, &want.headers);
        }
    }

    /// Our view validates and reads what kafka-protocol writes.
    #[test]
    fn we_read_kafka_protocol_batches(b in batch()) {
        let bytes = theirs(&b);
        let batch = RecordBatch::parse(bytes).unwrap();
        batch.validate_produce().unwrap();
        prop_assert_eq!(batch.producer_id(), b.producer_id);
        prop_assert_eq!(batch.producer_epoch(), b.producer_epoch);
        prop_assert_eq!(batch.base_sequence(), b.base_sequence);
        prop_assert_eq!(batch.is_transactional(), b.transactional);
        prop_assert_eq!(batch.records_count() as usize, b.records.len());
        prop_assert_eq!(
            batch.max_timestamp(),
            b.records.iter().map(|r| r.timestamp_ms).max().unwrap()
        );
        for (i, (got, want)) in batch.records().unwrap().zip(&b.records).enumerate() {
            let got = got.unwrap();
            prop_assert_eq!(got.offset_delta, i as i32);
            prop_assert_eq!(batch.base_timestamp() + got.timestamp_delta, want.timestamp_ms);
            prop_assert_eq!(got.key.as_ref().map(|k| k.to_vec()), want.key.clone());
            prop_assert_eq!(got.value.as_ref().map(|v| v.to_vec()), want.value.clone());
            let headers: Vec<(String, Option<Vec<u8>>)> = got
                .headers
                .iter()
                .map(|h| {
                    (
                        String::from_utf8(h.key.to_vec()).unwrap(),
                        h.value.as_ref().map(|v| v.to_vec()),
                    )
                })
                .collect();
            prop_assert_eq!(&headers, &want.headers);
        }
    }
}

/// Control batches: kafka-protocol sees our commit marker as a control record of the producer.
#[test]
fn kafka_protocol_reads_our_control_batches() {
    let marker = semel_wire::EndTxnMarker {
        kind: semel_wire::ControlRecordType::Commit,
        coordinator_epoch: 11,
    };
    let mut bytes = RecordBatchBuilder::control_batch(5, 2, marker, 1_700_000_000_000).unwrap();
    let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
    assert_eq!(set.records.len(), 1);
    let r = &set.records[0];
    assert!(r.control && r.transactional);
    assert_eq!((r.producer_id, r.producer_epoch, r.sequence), (5, 2, -1));
    assert_eq!(r.key.as_deref(), Some(&[0u8, 0, 0, 1][..]));
    assert_eq!(r.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 11][..]));
}
