//! Replays the committed `wire_request_frame` fuzz corpus (seeds and any crash input ever found)
//! through `semel_wire::fuzzing::request_frame`, and keeps the encoder-made seeds in it.
//!
//! Regenerate the seeds with `SEMEL_WRITE_CORPUS=1 cargo test -p semel-wire msg_corpus`.

use super::generated_random::request_body;
use super::msg_support::Rng;
use semel_wire::messages::{ApiKey, RequestHeader, encode_request};
use std::path::PathBuf;

const TARGET: &str = "wire_request_frame";

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(TARGET)
}

/// Request frames made by the encoder from random values, classic and flexible versions of the
/// APIs the broker serves first.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let picks: &[(ApiKey, i16)] = &[
        (ApiKey::ApiVersions, 0),
        (ApiKey::ApiVersions, 3),
        (ApiKey::Metadata, 1),
        (ApiKey::Metadata, 12),
        (ApiKey::Produce, 3),
        (ApiKey::Produce, 9),
        (ApiKey::Fetch, 4),
        (ApiKey::Fetch, 12),
        (ApiKey::Fetch, 16),
        (ApiKey::JoinGroup, 7),
        (ApiKey::SyncGroup, 5),
        (ApiKey::OffsetCommit, 8),
        (ApiKey::OffsetFetch, 8),
        (ApiKey::InitProducerId, 4),
        (ApiKey::AddPartitionsToTxn, 4),
        (ApiKey::EndTxn, 3),
        (ApiKey::TxnOffsetCommit, 3),
        (ApiKey::ConsumerGroupHeartbeat, 0),
        (ApiKey::CreateTopics, 7),
        (ApiKey::DescribeConfigs, 4),
    ];
    let mut out = Vec::new();
    for (i, &(api, version)) in picks.iter().enumerate() {
        let mut rng = Rng::new(1000 + i as u64);
        // A few tries for a frame that is small enough to keep the corpus small.
        let frame = (0..32)
            .map(|_| {
                let body = request_body(&mut rng, api, version);
                let header = RequestHeader {
                    request_api_key: api.key(),
                    request_api_version: version,
                    correlation_id: i as i32 + 1,
                    client_id: Some("seed".to_owned()),
                    ..RequestHeader::default()
                };
                encode_request(&header, &body).unwrap().into_bytes()
            })
            .find(|f| f.len() <= 1024 && f.len() > 12)
            .unwrap_or_else(|| panic!("no small seed for {api:?} v{version}"));
        out.push((format!("{}_v{version}", api.name()), frame.to_vec()));
    }
    out.push(("Produce_v9_with_batch".to_owned(), produce_with_batch()));
    out
}

/// A Produce v9 request carrying a real record batch of three records.
fn produce_with_batch() -> Vec<u8> {
    use semel_wire::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    let mut b = semel_wire::RecordBatchBuilder::new();
    for i in 0..3i64 {
        b.append(
            1_700_000_000_000 + i,
            Some(bytes::Bytes::from(format!("k{i}"))),
            Some(bytes::Bytes::from(format!("value {i}"))),
            vec![],
        )
        .unwrap();
    }
    let body = semel_wire::RequestBody::Produce(ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "orders".to_owned(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(b.build().unwrap().into()),
                ..PartitionProduceData::default()
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    });
    let header = RequestHeader {
        request_api_key: 0,
        request_api_version: 9,
        correlation_id: 77,
        client_id: Some("rdkafka".to_owned()),
        ..RequestHeader::default()
    };
    encode_request(&header, &body)
        .unwrap()
        .into_bytes()
        .to_vec()
}

#[test]
fn request_frame_seed_corpus_is_current() {
    let dir = corpus_dir();
    let write = std::env::var_os("SEMEL_WRITE_CORPUS").is_some();
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut total = 0;
    for (name, data) in seeds() {
        let path = dir.join(name);
        total += data.len();
        if write {
            std::fs::write(&path, &data).unwrap();
        } else {
            let existing = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (regenerate the seeds)", path.display()));
            assert_eq!(
                existing,
                data,
                "{} is stale (regenerate the seeds)",
                path.display()
            );
        }
    }
    assert!(total < 100 * 1024, "seed corpus too large: {total} bytes");
}

#[test]
fn request_frame_corpus_replays() {
    let dir = corpus_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| semel_wire::fuzzing::request_frame(&data));
        assert!(result.is_ok(), "{TARGET} fails on {}", path.display());
        // Every seed is a valid request, so the property really ran on it.
        if path
            .file_name()
            .is_some_and(|f| f.to_string_lossy().contains("_v"))
        {
            assert!(
                semel_wire::decode_request(bytes::Bytes::from(data)).is_ok(),
                "seed {} does not decode",
                path.display()
            );
        }
        n += 1;
    }
    assert!(n >= 20, "only {n} corpus files in {}", dir.display());
}

#[test]
fn mutated_request_frames_never_break_the_property() {
    // Byte flips, truncations and extensions of every seed: decode may fail, but never panics,
    // and whatever decodes satisfies the round-trip property.
    let mut rng = Rng::new(99);
    for (_, seed) in seeds() {
        for _ in 0..200 {
            let mut data = seed.clone();
            match rng.below(3) {
                0 => {
                    let i = rng.below(data.len() as u64) as usize;
                    data[i] ^= 1 << rng.below(8);
                }
                1 => data.truncate(rng.below(data.len() as u64) as usize),
                _ => data.push(rng.next() as u8),
            }
            semel_wire::fuzzing::request_frame(&data);
        }
    }
}
