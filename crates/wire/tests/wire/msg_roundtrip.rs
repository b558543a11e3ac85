//! Round trips of every generated message in every valid version: encode → decode equals,
//! decode → encode is byte-identical, and the predicted length is exact.

use super::generated_random::{MESSAGES, request_body, response_body};
use super::msg_support::Rng;
use bytes::Bytes;
use proptest::prelude::*;
use semel_wire::messages::{
    ApiKey, RequestBody, RequestHeader, ResponseBody, decode_request, decode_response,
    encode_request, encode_response,
};
use semel_wire::{Decoder, Encoder};

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips_in_every_version(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for entry in MESSAGES {
            for version in entry.versions.0..=entry.versions.1 {
                if let Err(e) = (entry.round_trip)(&mut rng, version) {
                    prop_assert!(false, "{} v{} (seed {seed}): {e}", entry.name, version);
                }
            }
        }
    }

    #[test]
    fn every_request_frame_round_trips_through_decode_request(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for &api in ApiKey::ALL {
            let (lo, hi) = api.valid_versions();
            for version in lo..=hi {
                let body = request_body(&mut rng, api, version);
                let mut header = RequestHeader {
                    request_api_key: api.key(),
                    request_api_version: version,
                    correlation_id: rng.i32(),
                    client_id: if rng.null(true) { None } else { Some(rng.string()) },
                    ..RequestHeader::default()
                };
                if api.request_header_version(version) >= 2 {
                    header.unknown_tagged_fields = rng.unknown_tags();
                }
                let frame = encode_request(&header, &body).unwrap();
                let len = frame.len();
                let frame = frame.into_bytes();
                prop_assert_eq!(frame.len(), len);
                let (h, b) = decode_request(frame.clone()).unwrap();
                prop_assert_eq!(&h, &header);
                prop_assert_eq!(&b, &body);
                prop_assert_eq!(encode_request(&h, &b).unwrap().into_bytes(), frame);
            }
        }
    }

    #[test]
    fn every_response_frame_round_trips_through_decode_response(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for &api in ApiKey::ALL {
            let (lo, hi) = api.valid_versions();
            for version in lo..=hi {
                let body = response_body(&mut rng, api, version);
                let correlation_id = rng.i32();
                let frame = encode_response(correlation_id, version, &body).unwrap().into_bytes();
                let (h, b) = decode_response(frame, api, version).unwrap();
                prop_assert_eq!(h.correlation_id, correlation_id);
                prop_assert_eq!(&b, &body);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random bytes (biased towards small lengths and counts) through every body decoder of
    /// every version: no panic, and whatever decodes re-encodes to bytes that decode equal.
    #[test]
    fn arbitrary_bytes_never_panic_any_body_decoder(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for &api in ApiKey::ALL {
            let (lo, hi) = api.valid_versions();
            for version in lo..=hi {
                let len = rng.below(40) as usize;
                let data: Vec<u8> = (0..len)
                    .map(|_| if rng.bool() { rng.below(4) as u8 } else { rng.next() as u8 })
                    .collect();
                let data = Bytes::from(data);
                let mut d = Decoder::new(data.clone());
                if let Ok(body) = RequestBody::decode(api, &mut d, version) {
                    let mut e = Encoder::new();
                    body.encode(&mut e, version).unwrap();
                    prop_assert_eq!(e.len(), body.encoded_len(version));
                    let mut d2 = Decoder::new(e.into_bytes());
                    prop_assert_eq!(RequestBody::decode(api, &mut d2, version).unwrap(), body);
                }
                let mut d = Decoder::new(data);
                if let Ok(body) = ResponseBody::decode(api, &mut d, version) {
                    let mut e = Encoder::new();
                    body.encode(&mut e, version).unwrap();
                    let mut d2 = Decoder::new(e.into_bytes());
                    prop_assert_eq!(ResponseBody::decode(api, &mut d2, version).unwrap(), body);
                }
            }
        }
    }
}

#[test]
fn every_default_message_round_trips_in_every_version() {
    for entry in MESSAGES {
        for version in entry.versions.0..=entry.versions.1 {
            if let Err(e) = (entry.default_round_trip)(version) {
                panic!("{} v{version} default: {e}", entry.name);
            }
        }
    }
}

#[test]
fn every_api_has_a_request_and_a_response_entry() {
    for &api in ApiKey::ALL {
        let count = MESSAGES.iter().filter(|m| m.api_key == api.key()).count();
        assert_eq!(count, 2, "{api:?}");
        let m = MESSAGES.iter().find(|m| m.api_key == api.key()).unwrap();
        assert_eq!(m.versions, api.valid_versions());
    }
    assert_eq!(ApiKey::ALL.len(), 36);
}

#[test]
fn decode_request_refuses_an_unknown_api_key_with_unsupported_version() {
    // api key 999, version 0, correlation id 7, null client id.
    let frame = Bytes::from_static(&[0x03, 0xe7, 0, 0, 0, 0, 0, 7, 0xff, 0xff]);
    let err = decode_request(frame).unwrap_err();
    assert_eq!(err.kafka_error_code(), 35);
}

#[test]
fn decode_request_refuses_a_version_outside_the_valid_range() {
    // Produce (0) version 99, correlation id 1, client id "c".
    let frame = Bytes::from_static(&[0, 0, 0, 99, 0, 0, 0, 1, 0, 1, b'c']);
    let err = decode_request(frame).unwrap_err();
    assert_eq!(
        err.kind,
        semel_wire::DecodeErrorKind::UnsupportedVersion {
            api_key: 0,
            version: 99
        }
    );
}
