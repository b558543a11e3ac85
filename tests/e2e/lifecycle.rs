//! Running the binary: the data-directory lock, graceful stop, and kill -9 under acks=all load.

use semel_e2e::{Broker, RawConnection, raw, semel_bin};
use std::process::Command;
use std::time::Duration;

#[test]
fn a_second_broker_on_the_same_data_dir_fails_with_a_clear_message() {
    let broker = Broker::start(&[]);
    let output = Command::new(semel_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(broker.data_dir())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("in use by another semel process"),
        "{stderr}"
    );
}

#[test]
fn sigterm_answers_what_was_started_flushes_and_exits_zero() {
    let mut broker = Broker::start(&["--flush", "os"]);
    let mut conn = RawConnection::connect(broker.addr);
    assert_eq!(raw::create_topic(&mut conn, "stop", 1), 0);
    let (error, offset) = raw::produce(&mut conn, "stop", 0, &[b"before".to_vec()], 2).unwrap();
    assert_eq!((error, offset), (0, 0));
    let status = broker.terminate();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        broker.log()
    );
    broker.restart();
    let mut conn = RawConnection::connect(broker.addr);
    assert_eq!(
        raw::fetch_all(&mut conn, "stop", 0),
        vec![(0, b"before".to_vec())]
    );
}

/// Produces numbered batches with acks=all while the broker is killed with SIGKILL at
/// different moments, restarting it each time; every acknowledged batch must be there after,
/// at the offset it was acknowledged with, in order.
#[test]
fn kill_9_during_acks_all_load_loses_nothing_acknowledged() {
    let mut broker = Broker::start(&["--flush", "always"]);
    let mut conn = RawConnection::connect(broker.addr);
    assert_eq!(raw::create_topic(&mut conn, "durable", 1), 0);
    let mut acked: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut next = 0u64;
    for cycle in 0..4u64 {
        let addr = broker.addr;
        // Kill after a delay that varies per cycle, from another thread, while requests fly.
        let pid_killer =
            std::thread::spawn(move || std::thread::sleep(Duration::from_millis(150 + 97 * cycle)));
        let mut conn = RawConnection::connect(addr);
        let mut correlation_id = 10;
        let mut killed = false;
        while !killed {
            let value = format!("m{next}").into_bytes();
            correlation_id += 1;
            match raw::produce(
                &mut conn,
                "durable",
                0,
                std::slice::from_ref(&value),
                correlation_id,
            ) {
                Some((0, offset)) => {
                    acked.push((offset, value));
                    next += 1;
                }
                Some((code, _)) => panic!("produce failed with {code}"),
                None => killed = true,
            }
            if pid_killer.is_finished() && !killed {
                broker.kill9();
            }
        }
        let _ = pid_killer.join();
        broker.restart();
    }
    assert!(acked.len() > 10, "the load ran ({} acks)", acked.len());
    let mut conn = RawConnection::connect(broker.addr);
    let stored = raw::fetch_all(&mut conn, "durable", 0);
    // Every acknowledged message is where it was acknowledged. Unacknowledged ones (in flight
    // at a kill) may or may not be there, but never out of order.
    for (offset, value) in &acked {
        let found = stored.iter().find(|(o, _)| o == offset);
        assert_eq!(
            found.map(|(_, v)| v),
            Some(value),
            "acked offset {offset} lost"
        );
    }
    assert!(
        stored.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "offsets are dense"
    );
}

/// An idempotent producer's retry (same producer id, epoch and sequence) after a lost answer
/// is stored once and answered with the original offset, also after a kill -9 and restart
/// (the producer state is rebuilt from the log).
#[test]
fn an_idempotent_retry_is_stored_once_even_across_kill_9() {
    use semel_wire::RecordBatchBuilder;
    use semel_wire::messages::init_producer_id_request::InitProducerIdRequest;
    use semel_wire::messages::{RequestBody, ResponseBody};

    let mut broker = Broker::start(&["--flush", "always"]);
    let mut conn = RawConnection::connect(broker.addr);
    assert_eq!(raw::create_topic(&mut conn, "idem", 1), 0);
    let init = RequestBody::InitProducerId(InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..InitProducerIdRequest::default()
    });
    let Some(ResponseBody::InitProducerId(id)) = raw::call(&mut conn, init, 4, 2) else {
        panic!("InitProducerId failed");
    };
    assert_eq!(id.error_code, 0);
    let batch = |sequence: i32, value: &[u8]| {
        let mut builder = RecordBatchBuilder::new();
        builder.producer(id.producer_id, id.producer_epoch, sequence);
        builder
            .append(
                1_700_000_000_000,
                None,
                Some(bytes::Bytes::copy_from_slice(value)),
                Vec::new(),
            )
            .unwrap();
        builder.build().unwrap()
    };
    let send = |conn: &mut RawConnection, sequence: i32, value: &[u8], cid: i32| {
        let answer = raw::call(
            conn,
            raw::produce_request("idem", 0, -1, batch(sequence, value)),
            9,
            cid,
        );
        let Some(ResponseBody::Produce(r)) = answer else {
            panic!("produce failed: {answer:?}")
        };
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    assert_eq!(send(&mut conn, 0, b"zero", 3), (0, 0));
    assert_eq!(send(&mut conn, 1, b"one", 4), (0, 1));
    // The answer to sequence 1 was "lost": the retry is a duplicate.
    assert_eq!(send(&mut conn, 1, b"one", 5), (0, 1));
    // A gap is refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
    assert_eq!(send(&mut conn, 5, b"gap", 6).0, 45);
    broker.kill9();
    broker.restart();
    let mut conn = RawConnection::connect(broker.addr);
    assert_eq!(
        send(&mut conn, 1, b"one", 7),
        (0, 1),
        "duplicate detected after restart"
    );
    assert_eq!(send(&mut conn, 2, b"two", 8), (0, 2));
    let stored: Vec<Vec<u8>> = raw::fetch_all(&mut conn, "idem", 0)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        stored,
        vec![b"zero".to_vec(), b"one".to_vec(), b"two".to_vec()]
    );
}
