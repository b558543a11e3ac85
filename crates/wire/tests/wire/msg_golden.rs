//! Golden vectors written by hand from the protocol description (NOTES.md A.2–A.5): the bytes
//! below are what Kafka puts on the wire, checked in both directions.

use bytes::Bytes;
use semel_wire::messages::{
    ApiKey, Codec, RequestBody, ResponseBody,
    api_versions_request::ApiVersionsRequest,
    api_versions_response::{ApiVersion, ApiVersionsResponse},
    find_coordinator_response::FindCoordinatorResponse,
    heartbeat_response::HeartbeatResponse,
    metadata_request::MetadataRequest,
    produce_request::ProduceRequest,
};
use semel_wire::{
    Decoder, EncodeError, Encoder, RequestHeader, decode_request, encode_request, encode_response,
};

fn encode<T: Codec>(value: &T, version: i16) -> Result<Bytes, EncodeError> {
    let mut e = Encoder::new();
    value.encode(&mut e, version)?;
    assert_eq!(e.len(), value.encoded_len(version));
    Ok(e.into_bytes())
}

fn decode<T: Codec>(bytes: &'static [u8], version: i16) -> T {
    let mut d = Decoder::new(Bytes::from_static(bytes));
    let v = T::decode(&mut d, version).unwrap();
    d.finish().unwrap();
    v
}

/// ApiVersions v3 request: header v2 whose tagged section carries an unknown tag 5, and a
/// classic (int16-length) client id even though the header is flexible.
const API_VERSIONS_V3_REQUEST: &[u8] = &[
    0x00, 0x12, // api key 18
    0x00, 0x03, // version 3
    0x00, 0x00, 0x00, 0x07, // correlation id 7
    0x00, 0x02, b'a', b'b', // client id "ab", int16 length
    0x01, 0x05, 0x02, 0xca, 0xfe, // header tags: 1 field, tag 5, 2 bytes
    0x02, b'x', // ClientSoftwareName "x", compact
    0x02, b'1', // ClientSoftwareVersion "1", compact
    0x00, // body tags: none
];

#[test]
fn request_header_v2_with_a_tagged_field() {
    let (header, body) = decode_request(Bytes::from_static(API_VERSIONS_V3_REQUEST)).unwrap();
    assert_eq!(header.request_api_key, 18);
    assert_eq!(header.request_api_version, 3);
    assert_eq!(header.correlation_id, 7);
    assert_eq!(header.client_id.as_deref(), Some("ab"));
    assert_eq!(header.unknown_tagged_fields.len(), 1);
    assert_eq!(
        header.unknown_tagged_fields.get(&5).map(|b| &b[..]),
        Some(&[0xca, 0xfe][..])
    );
    let RequestBody::ApiVersions(req) = &body else {
        panic!("not ApiVersions: {body:?}");
    };
    assert_eq!(req.client_software_name, "x");
    assert_eq!(req.client_software_version, "1");
    let again = encode_request(&header, &body).unwrap().into_bytes();
    assert_eq!(&again[..], API_VERSIONS_V3_REQUEST);
}

#[test]
fn request_header_v1_for_a_classic_version_has_no_tagged_section() {
    // ApiVersions v2: header v1, empty body.
    let bytes: &[u8] = &[0x00, 0x12, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff];
    let (header, body) = decode_request(Bytes::from_static(bytes)).unwrap();
    assert_eq!(header.client_id, None);
    assert_eq!(
        body,
        RequestBody::ApiVersions(ApiVersionsRequest::default())
    );
    assert_eq!(
        &encode_request(&header, &body).unwrap().into_bytes()[..],
        bytes
    );
}

#[test]
fn response_header_v1_for_a_flexible_response() {
    // Heartbeat v4 (flexible): header v1 = correlation id + empty tag section.
    let body = ResponseBody::Heartbeat(HeartbeatResponse {
        throttle_time_ms: 3,
        error_code: 27,
        ..HeartbeatResponse::default()
    });
    let bytes = encode_response(42, 4, &body).unwrap().into_bytes();
    assert_eq!(
        &bytes[..],
        &[
            0x00, 0x00, 0x00, 0x2a, 0x00, // header v1
            0x00, 0x00, 0x00, 0x03, // throttle time
            0x00, 0x1b, // error code 27 (REBALANCE_IN_PROGRESS)
            0x00, // body tags
        ]
    );
    // v3 is classic: header v0, no tag sections.
    let bytes = encode_response(42, 3, &body).unwrap().into_bytes();
    assert_eq!(
        &bytes[..],
        &[0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x1b]
    );
    let other = ResponseBody::FindCoordinator(FindCoordinatorResponse::default());
    assert_eq!(ApiKey::FindCoordinator.response_header_version(3), 1);
    assert_eq!(encode_response(1, 3, &other).unwrap().into_bytes()[4], 0x00);
}

#[test]
fn api_versions_responses_always_use_header_v0() {
    let body = ResponseBody::ApiVersions(ApiVersionsResponse {
        error_code: 0,
        api_keys: vec![ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
            ..ApiVersion::default()
        }],
        ..ApiVersionsResponse::default()
    });
    let bytes = encode_response(9, 3, &body).unwrap().into_bytes();
    assert_eq!(
        &bytes[..],
        &[
            0x00, 0x00, 0x00, 0x09, // header v0: correlation id only, no tag section
            0x00, 0x00, // error code
            0x02, // compact array of 1
            0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, // {18, 0, 4}, element tags
            0x00, 0x00, 0x00, 0x00, // throttle time
            0x00, // body tags (FinalizedFeaturesEpoch -1 is the default: not written)
        ]
    );
    assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
    assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
}

#[test]
fn a_tagged_field_is_written_only_when_it_differs_from_its_default() {
    let mut resp = ApiVersionsResponse::default();
    assert_eq!(resp.finalized_features_epoch, -1);
    assert_eq!(&encode(&resp, 3).unwrap()[..], &[0, 0, 1, 0, 0, 0, 0, 0]);
    resp.finalized_features_epoch = 5;
    resp.zk_migration_ready = true;
    let bytes = encode(&resp, 3).unwrap();
    assert_eq!(
        &bytes[..],
        &[
            0, 0, 1, 0, 0, 0, 0, // error code, empty array, throttle
            2, // two tags
            1, 8, 0, 0, 0, 0, 0, 0, 0, 5, // tag 1: int64 5
            3, 1, 1, // tag 3: bool true
        ]
    );
    let mut d = Decoder::new(bytes);
    assert_eq!(ApiVersionsResponse::decode(&mut d, 3).unwrap(), resp);
}

#[test]
fn a_null_array_in_a_classic_message() {
    // Metadata v1: Topics null (-1) means "all topics".
    const BYTES: &[u8] = &[0xff, 0xff, 0xff, 0xff];
    let req: MetadataRequest = decode(BYTES, 1);
    assert_eq!(req.topics, None);
    assert_eq!(&encode(&req, 1).unwrap()[..], BYTES);
    // v0 has no null form: an empty array.
    let v0 = MetadataRequest {
        topics: Some(vec![]),
        ..MetadataRequest::default()
    };
    assert_eq!(&encode(&v0, 0).unwrap()[..], &[0, 0, 0, 0]);
    assert!(matches!(
        encode(&req, 0),
        Err(EncodeError::NullNotAllowed {
            field: "Topics",
            version: 0
        })
    ));
    let mut d = Decoder::new(Bytes::from_static(BYTES));
    assert!(MetadataRequest::decode(&mut d, 0).is_err());
}

#[test]
fn a_null_array_in_a_compact_message() {
    // Metadata v9: Topics null is uvarint 0; then AllowAutoTopicCreation, the two
    // authorized-operations flags and the empty tag section.
    const BYTES: &[u8] = &[0x00, 0x01, 0x00, 0x01, 0x00];
    let req: MetadataRequest = decode(BYTES, 9);
    assert_eq!(req.topics, None);
    assert!(req.allow_auto_topic_creation);
    assert!(!req.include_cluster_authorized_operations);
    assert!(req.include_topic_authorized_operations);
    assert_eq!(&encode(&req, 9).unwrap()[..], BYTES);
}

#[test]
fn a_non_ignorable_field_the_version_cannot_carry_is_an_error() {
    // AllowAutoTopicCreation (default true, not ignorable) exists from v4.
    let req = MetadataRequest {
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    assert_eq!(
        encode(&req, 3),
        Err(EncodeError::FieldNotInVersion {
            field: "AllowAutoTopicCreation",
            version: 3
        })
    );
    assert!(encode(&req, 4).is_ok());
    // Its default value is simply left out.
    assert!(encode(&MetadataRequest::default(), 3).is_ok());
    // TransactionalId exists from Produce v3.
    let produce = ProduceRequest {
        transactional_id: Some("t".into()),
        ..ProduceRequest::default()
    };
    assert!(matches!(
        encode(&produce, 2),
        Err(EncodeError::FieldNotInVersion {
            field: "TransactionalId",
            ..
        })
    ));
}

#[test]
fn an_unsupported_version_is_refused_both_ways() {
    let mut d = Decoder::new(Bytes::from_static(&[0, 0]));
    let err = HeartbeatResponse::decode(&mut d, 5).unwrap_err();
    assert_eq!(err.kafka_error_code(), 35);
    assert!(matches!(
        encode(&HeartbeatResponse::default(), 5),
        Err(EncodeError::UnsupportedVersion {
            api_key: 12,
            version: 5
        })
    ));
}

#[test]
fn records_share_the_input_bytes() {
    use semel_wire::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let blob = Bytes::from(vec![0x5a; 4096]);
    let req = ProduceRequest {
        acks: -1,
        timeout_ms: 1000,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(blob.clone().into()),
                ..PartitionProduceData::default()
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    let header = RequestHeader {
        request_api_key: 0,
        request_api_version: 9,
        correlation_id: 1,
        ..RequestHeader::default()
    };
    let body = RequestBody::Produce(req);
    // The encoder passes the blob through as its own chunk, without copying.
    let chunks = encode_request(&header, &body).unwrap().into_chunks();
    assert!(chunks.iter().any(|c| c.as_ptr() == blob.as_ptr()));
    let frame: Bytes = chunks.concat().into();
    let (_, decoded) = decode_request(frame.clone()).unwrap();
    let RequestBody::Produce(decoded) = decoded else {
        panic!("not a produce request");
    };
    let records = decoded.topic_data[0].partition_data[0]
        .records
        .clone()
        .unwrap()
        .to_bytes();
    assert_eq!(records, blob);
    let frame_range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    assert!(frame_range.contains(&(records.as_ptr() as usize)));
}
