//! Bad input: the broker answers with an error or closes that connection, keeps serving
//! others, and loses nothing stored.

use semel_e2e::{Broker, RawConnection, raw};

/// A well-behaved client still works and the stored data is unchanged.
fn still_serving(broker: &mut Broker, expected: &[(i64, Vec<u8>)]) {
    assert!(broker.is_running(), "broker died; log:\n{}", broker.log());
    let mut conn = RawConnection::connect(broker.addr);
    assert_eq!(raw::fetch_all(&mut conn, "safe", 0), expected);
}

fn setup() -> (Broker, Vec<(i64, Vec<u8>)>) {
    let broker = Broker::start(&[]);
    let mut conn = RawConnection::connect(broker.addr);
    assert_eq!(raw::create_topic(&mut conn, "safe", 1), 0);
    let (error, offset) =
        raw::produce(&mut conn, "safe", 0, &[b"a".to_vec(), b"b".to_vec()], 5).unwrap();
    assert_eq!((error, offset), (0, 0));
    (broker, vec![(0, b"a".to_vec()), (1, b"b".to_vec())])
}

#[test]
fn a_frame_announcing_2_gib_closes_the_connection() {
    let (mut broker, expected) = setup();
    let mut conn = RawConnection::connect(broker.addr);
    conn.send_raw(&0x7fff_ffffi32.to_be_bytes());
    assert!(conn.is_closed_by_peer());
    let mut conn = RawConnection::connect(broker.addr);
    conn.send_raw(&(-5i32).to_be_bytes());
    assert!(conn.is_closed_by_peer());
    still_serving(&mut broker, &expected);
}

#[test]
fn random_and_truncated_frames_never_hurt_the_broker() {
    let (mut broker, expected) = setup();
    // A deterministic pseudo-random stream (xorshift), so failures replay.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..200 {
        let mut conn = RawConnection::connect(broker.addr);
        let len = (next() % 300) as usize;
        let mut body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Half the rounds look like real headers (a served API key and version) with junk after.
        if round % 2 == 0 && body.len() >= 4 {
            let api_key = [0u8, 1, 2, 3, 18, 19, 20][(next() % 7) as usize];
            body[0] = 0;
            body[1] = api_key;
            body[2] = 0;
            body[3] = (next() % 10) as u8;
        }
        match round % 3 {
            0 => conn.send_frame(&body),
            // Truncated: announce more than is sent, then hang up.
            1 => {
                let mut frame = ((body.len() + 50) as i32).to_be_bytes().to_vec();
                frame.extend_from_slice(&body);
                conn.send_raw(&frame);
            }
            _ => conn.send_raw(&body),
        }
    }
    still_serving(&mut broker, &expected);
}

#[test]
fn a_batch_with_a_bad_crc_is_refused_with_corrupt_message() {
    let (mut broker, expected) = setup();
    let mut conn = RawConnection::connect(broker.addr);
    let mut batch = raw::batch(&[b"evil".to_vec()]).to_vec();
    let last = batch.len() - 1;
    batch[last] ^= 0xff;
    let response = raw::call(
        &mut conn,
        raw::produce_request("safe", 0, -1, batch.into()),
        9,
        7,
    );
    let Some(semel_wire::messages::ResponseBody::Produce(r)) = response else {
        panic!("expected a Produce answer, got {response:?}");
    };
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 2,
        "CORRUPT_MESSAGE"
    );
    still_serving(&mut broker, &expected);
}

#[test]
fn a_legacy_magic_1_message_set_is_refused_with_invalid_record() {
    let (mut broker, expected) = setup();
    let mut conn = RawConnection::connect(broker.addr);
    let mut batch = raw::batch(&[b"old".to_vec()]).to_vec();
    batch[16] = 1;
    let response = raw::call(
        &mut conn,
        raw::produce_request("safe", 0, -1, batch.into()),
        9,
        8,
    );
    let Some(semel_wire::messages::ResponseBody::Produce(r)) = response else {
        panic!("expected a Produce answer, got {response:?}");
    };
    assert_eq!(
        r.responses[0].partition_responses[0].error_code, 87,
        "INVALID_RECORD"
    );
    still_serving(&mut broker, &expected);
}

#[test]
fn an_unadvertised_api_version_closes_only_that_connection() {
    let (mut broker, expected) = setup();
    let mut conn = RawConnection::connect(broker.addr);
    // Produce v0 (magic 0 era) is not advertised: header v1 with api key 0, version 0.
    conn.send_frame(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert!(conn.is_closed_by_peer());
    still_serving(&mut broker, &expected);
}
