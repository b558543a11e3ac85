//! Benchmarks of the record-batch paths a broker runs on every request (issue 2, "Benchmarks"):
//!
//! - `produce_validate`: decode a ProduceRequest v9 (header v2) carrying one ~1 MiB batch of
//!   1 KiB records and validate the batch, against plain CRC-32C over the same bytes. Goal:
//!   ≥ 0.8× the CRC rate. Two validations are measured: `validate` (magic, lengths, CRC-32C,
//!   codec, count bound) and `validate_produce` (all of a broker's checks, which add a walk over
//!   every record). With `--bench`, the ratios are also measured directly and printed.
//! - `records_iterate`: iterate a batch of 10,000 small records, as owned `Record`s (keys and
//!   values share the batch through reference counts) and as borrowed `RecordRef`s (plain
//!   slices). Goal: ≥ 20 M records/s.
//! - `fetch_encode`: encode a FetchResponse v12 of 16 partitions × 1 MiB; the record bytes are
//!   passed through as chunks, never copied (checked before measuring).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use semel_wire::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use semel_wire::messages::produce_request::{PartitionProduceData, TopicProduceData};
use semel_wire::messages::request_header::RequestHeader;
use semel_wire::messages::{Codec, FetchResponse, ProduceRequest};
use semel_wire::{Decoder, Encoder, RecordBatch, RecordBatchBuilder, encode_frame};
use std::hint::black_box;
use std::time::{Duration, Instant};

const PRODUCE_VERSION: i16 = 9;
const PRODUCE_HEADER_VERSION: i16 = 2;
const FETCH_VERSION: i16 = 12;

fn batch(records: usize, value_bytes: usize) -> Bytes {
    let mut b = RecordBatchBuilder::new();
    b.producer(4000, 1, 0);
    for i in 0..records {
        let key = Bytes::from(format!("key-{i:08}"));
        let value = Bytes::from(vec![(i % 251) as u8; value_bytes]);
        b.append(1_700_000_000_000 + i as i64, Some(key), Some(value), vec![])
            .unwrap();
    }
    b.build().unwrap()
}

/// Header and body of a ProduceRequest v9 (the frame without its size prefix).
fn produce_request(records: Bytes) -> Bytes {
    let header = RequestHeader {
        request_api_key: 0,
        request_api_version: PRODUCE_VERSION,
        correlation_id: 7,
        client_id: Some("bench".to_owned()),
        ..RequestHeader::default()
    };
    let body = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "bench".to_owned(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(records.into()),
                ..PartitionProduceData::default()
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    let mut e = Encoder::new();
    header.encode(&mut e, PRODUCE_HEADER_VERSION).unwrap();
    body.encode(&mut e, PRODUCE_VERSION).unwrap();
    e.into_bytes()
}

/// What a broker does with a Produce frame before touching any state: decode the header and
/// body, then view and check each partition's batch, with `validate_produce` (every broker
/// check, including a walk over every record) or with `validate` (magic, lengths, CRC-32C).
/// Returns the records seen.
fn decode_and_validate(frame: &Bytes, walk_records: bool) -> i64 {
    let mut d = Decoder::new(frame.clone());
    let header = RequestHeader::decode(&mut d, PRODUCE_HEADER_VERSION).unwrap();
    let request = ProduceRequest::decode(&mut d, header.request_api_version).unwrap();
    d.finish().unwrap();
    let mut records = 0;
    for topic in request.topic_data {
        for partition in topic.partition_data {
            let batch = RecordBatch::parse(partition.records.unwrap().to_bytes()).unwrap();
            if walk_records {
                batch.validate_produce().unwrap();
            } else {
                batch.validate().unwrap();
            }
            records += i64::from(batch.records_count());
        }
    }
    records
}

fn median_of(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn produce_validate(c: &mut Criterion) {
    let records = batch(1024, 1024);
    let frame = produce_request(records);
    assert_eq!(decode_and_validate(&frame, true), 1024);
    let mut g = c.benchmark_group("produce_validate");
    g.throughput(Throughput::Bytes(frame.len() as u64));
    g.bench_function("decode_and_validate_produce_1MiB", |b| {
        b.iter(|| decode_and_validate(black_box(&frame), true))
    });
    g.bench_function("decode_and_validate_crc_1MiB", |b| {
        b.iter(|| decode_and_validate(black_box(&frame), false))
    });
    g.bench_function("crc32c_1MiB", |b| {
        b.iter(|| crc32c::crc32c(black_box(&frame)))
    });
    g.finish();

    // The goal is a ratio; measure it directly, interleaving the three so that load on a shared
    // machine hits them alike. Only in `--bench` mode (a test run executes each bench once).
    if std::env::args().any(|a| a == "--bench") {
        let (mut produce, mut integrity, mut crc) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..400 {
            let t = Instant::now();
            black_box(decode_and_validate(black_box(&frame), true));
            produce.push(t.elapsed());
            let t = Instant::now();
            black_box(decode_and_validate(black_box(&frame), false));
            integrity.push(t.elapsed());
            let t = Instant::now();
            black_box(crc32c::crc32c(black_box(&frame)));
            crc.push(t.elapsed());
        }
        let (p, i, c) = (median_of(produce), median_of(integrity), median_of(crc));
        let mib = frame.len() as f64 / (1024.0 * 1024.0);
        let rate = |d: Duration| mib / d.as_secs_f64();
        println!(
            "produce_validate (medians of 400 interleaved runs): crc32c {:.0} MiB/s; \
             decode+validate {:.0} MiB/s = {:.2}x crc; decode+validate_produce (record walk) \
             {:.0} MiB/s = {:.2}x crc (goal >= 0.80x)",
            rate(c),
            rate(i),
            c.as_secs_f64() / i.as_secs_f64(),
            rate(p),
            c.as_secs_f64() / p.as_secs_f64()
        );
    }
}

fn records_iterate(c: &mut Criterion) {
    let bytes = batch(10_000, 16);
    let view = RecordBatch::parse(bytes).unwrap();
    view.validate_produce().unwrap();
    let mut g = c.benchmark_group("records_iterate");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("10k_small_records", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for r in black_box(&view).records().unwrap() {
                let r = r.unwrap();
                n += r.value.map_or(0, |v| v.len());
            }
            n
        })
    });
    g.bench_function("10k_small_records_borrowed", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for r in black_box(&view).records_ref().unwrap() {
                let r = r.unwrap();
                n += r.value.map_or(0, <[u8]>::len);
            }
            n
        })
    });
    g.finish();
}

fn fetch_response(batches: &[Bytes]) -> FetchResponse {
    FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "bench".to_owned(),
            partitions: batches
                .iter()
                .enumerate()
                .map(|(i, b)| PartitionData {
                    partition_index: i as i32,
                    high_watermark: 1 << 20,
                    last_stable_offset: 1 << 20,
                    log_start_offset: 0,
                    records: Some(b.clone().into()),
                    ..PartitionData::default()
                })
                .collect(),
            ..FetchableTopicResponse::default()
        }],
        ..FetchResponse::default()
    }
}

fn encode_fetch(response: &FetchResponse) -> Vec<Bytes> {
    let mut e = Encoder::new();
    e.put_i32(7); // response header v1: correlation id
    e.put_uvarint(0); // and no tagged fields
    response.encode(&mut e, FETCH_VERSION).unwrap();
    encode_frame(e).unwrap()
}

fn fetch_encode(c: &mut Criterion) {
    let batches: Vec<Bytes> = (0..16).map(|_| batch(1024, 1000)).collect();
    let total: usize = batches.iter().map(Bytes::len).sum();
    let response = fetch_response(&batches);
    // Zero copy: every batch comes out as its own chunk, at the very same address.
    let chunks = encode_fetch(&response);
    for b in &batches {
        assert!(
            chunks
                .iter()
                .any(|c| c.as_ptr() == b.as_ptr() && c.len() == b.len()),
            "a record batch was copied"
        );
    }
    let copied: usize = chunks
        .iter()
        .filter(|c| !batches.iter().any(|b| b.as_ptr() == c.as_ptr()))
        .map(Bytes::len)
        .sum();
    assert!(copied < 4096, "{copied} bytes copied besides the batches");
    let mut g = c.benchmark_group("fetch_encode");
    g.throughput(Throughput::Bytes(total as u64));
    g.bench_function("16_partitions_x_1MiB", |b| {
        b.iter(|| encode_fetch(black_box(&response)))
    });
    g.finish();
}

criterion_group!(benches, produce_validate, records_iterate, fetch_encode);
criterion_main!(benches);
