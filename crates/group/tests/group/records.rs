//! The group-metadata record codec: round trips, damaged records, the fuzz corpus.

use std::path::PathBuf;

use proptest::prelude::*;
use semel_group::{
    GroupError, GroupMetadataRecord, GroupRecord, GroupState, MemberRecord, Protocol,
    RECORD_VERSION,
};

fn sample() -> GroupRecord {
    GroupRecord::Metadata(GroupMetadataRecord {
        group_id: "orders".to_owned(),
        state: GroupState::Stable,
        generation_id: 7,
        protocol_type: Some("consumer".to_owned()),
        protocol_name: Some("range".to_owned()),
        leader: Some("c-1".to_owned()),
        members: vec![
            MemberRecord {
                member_id: "c-1".to_owned(),
                group_instance_id: None,
                client_id: "c".to_owned(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 30_000,
                protocols: vec![Protocol {
                    name: "range".to_owned(),
                    metadata: vec![0, 1, 2],
                }],
                assignment: vec![9, 9],
            },
            MemberRecord {
                member_id: "s-2".to_owned(),
                group_instance_id: Some("s".to_owned()),
                client_id: "c".to_owned(),
                session_timeout_ms: 45_000,
                rebalance_timeout_ms: 300_000,
                protocols: vec![
                    Protocol {
                        name: "range".to_owned(),
                        metadata: Vec::new(),
                    },
                    Protocol {
                        name: "sticky".to_owned(),
                        metadata: vec![1],
                    },
                ],
                assignment: Vec::new(),
            },
        ],
    })
}

fn seeds() -> Vec<(&'static str, GroupRecord)> {
    let GroupRecord::Metadata(stable) = sample() else {
        unreachable!()
    };
    let empty = GroupMetadataRecord {
        state: GroupState::Empty,
        protocol_name: None,
        leader: None,
        members: Vec::new(),
        ..stable.clone()
    };
    let completing = GroupMetadataRecord {
        state: GroupState::CompletingRebalance,
        ..stable.clone()
    };
    vec![
        ("stable", GroupRecord::Metadata(stable)),
        ("empty", GroupRecord::Metadata(empty)),
        ("completing", GroupRecord::Metadata(completing)),
        (
            "tombstone",
            GroupRecord::Tombstone {
                group_id: "orders".to_owned(),
            },
        ),
    ]
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/group_records")
}

#[test]
fn record_round_trips_with_predicted_length() {
    for (_, r) in seeds() {
        let bytes = r.encode();
        assert_eq!(bytes.len(), r.encoded_len());
        assert_eq!(GroupRecord::decode(&bytes).unwrap(), r);
    }
}

#[test]
fn corpus_seeds_match_the_encoder() {
    // Regenerate with SEMEL_WRITE_CORPUS=1 after a deliberate format change (and bump
    // RECORD_VERSION).
    let dir = corpus_dir();
    for (name, r) in seeds() {
        let path = dir.join(format!("seed-{name}"));
        if std::env::var_os("SEMEL_WRITE_CORPUS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, r.encode()).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            r.encode(),
            "{}",
            path.display()
        );
    }
}

#[test]
fn fuzz_corpus_replays() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        semel_group::fuzzing::group_records(&data);
        n += 1;
    }
    assert!(n >= 4, "corpus has {n} files");
}

#[test]
fn truncated_record_is_truncated_error() {
    let bytes = sample().encode();
    for cut in 0..bytes.len() {
        let err = GroupRecord::decode(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                GroupError::Truncated { .. } | GroupError::ChecksumMismatch { .. }
            ),
            "{cut}: {err:?}"
        );
    }
}

#[test]
fn flipped_bit_is_checksum_mismatch() {
    let bytes = sample().encode();
    for i in 0..bytes.len() - 4 {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x10;
        assert!(matches!(
            GroupRecord::decode(&damaged),
            Err(GroupError::ChecksumMismatch { .. })
        ));
    }
}

fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    body
}

fn body(r: &GroupRecord) -> Vec<u8> {
    let mut b = r.encode();
    b.truncate(b.len() - 4);
    b
}

#[test]
fn unknown_version_is_unsupported_version() {
    let mut b = body(&sample());
    b[0..2].copy_from_slice(&(RECORD_VERSION + 1).to_be_bytes());
    assert_eq!(
        GroupRecord::decode(&seal(b)),
        Err(GroupError::UnsupportedVersion {
            version: RECORD_VERSION + 1,
            supported: RECORD_VERSION
        })
    );
}

#[test]
fn unknown_kind_is_invalid_value() {
    let mut b = body(&sample());
    b[2] = 9;
    assert!(matches!(
        GroupRecord::decode(&seal(b)),
        Err(GroupError::InvalidValue {
            field: "kind",
            offset: 2,
            value: 9
        })
    ));
}

#[test]
fn trailing_bytes_are_trailing_bytes_error() {
    let mut b = body(&sample());
    b.push(0);
    assert_eq!(
        GroupRecord::decode(&seal(b)),
        Err(GroupError::TrailingBytes { extra: 1 })
    );
}

#[test]
fn huge_member_count_is_rejected_before_allocating() {
    // version, kind, group id "g", state, generation, three null strings, count.
    let mut b = vec![0, 1, 0, 0, 0, 0, 1, b'g', 3, 0, 0, 0, 1];
    b.extend_from_slice(&[0xff; 12]);
    b.extend_from_slice(&[0xff, 0xff, 0xff, 0xfe]);
    assert!(matches!(
        GroupRecord::decode(&seal(b)),
        Err(GroupError::Truncated {
            field: "member_count",
            ..
        })
    ));
}

#[test]
fn duplicate_member_is_inconsistent() {
    let GroupRecord::Metadata(mut m) = sample() else {
        unreachable!()
    };
    m.members[1].member_id = m.members[0].member_id.clone();
    m.members[1].group_instance_id = None;
    let bytes = GroupRecord::Metadata(m).encode();
    assert!(matches!(
        GroupRecord::decode(&bytes),
        Err(GroupError::Inconsistent {
            reason: "duplicate member id",
            ..
        })
    ));
}

#[test]
fn leader_not_a_member_is_inconsistent() {
    let GroupRecord::Metadata(mut m) = sample() else {
        unreachable!()
    };
    m.leader = Some("ghost".to_owned());
    let bytes = GroupRecord::Metadata(m).encode();
    assert!(matches!(
        GroupRecord::decode(&bytes),
        Err(GroupError::Inconsistent {
            reason: "leader is not a member",
            ..
        })
    ));
}

#[test]
fn invalid_utf8_is_invalid_utf8() {
    let mut b = body(&GroupRecord::Tombstone {
        group_id: "ab".to_owned(),
    });
    let n = b.len();
    b[n - 1] = 0xff;
    assert!(matches!(
        GroupRecord::decode(&seal(b)),
        Err(GroupError::InvalidUtf8 {
            field: "group_id",
            ..
        })
    ));
}

#[test]
fn replay_of_damaged_stream_names_the_record() {
    let good = sample().encode();
    let mut bad = good.clone();
    bad[5] ^= 1;
    let err = semel_group::GroupCoordinator::replay(
        semel_group::GroupConfig::default(),
        0,
        0,
        [good.as_slice(), bad.as_slice()],
    )
    .unwrap_err();
    assert!(
        matches!(err, GroupError::Replay { index: 1, .. }),
        "{err:?}"
    );
}

fn arb_string() -> impl Strategy<Value = String> {
    "[a-z0-9é-]{0,8}"
}

fn arb_member(i: usize) -> impl Strategy<Value = MemberRecord> {
    (
        proptest::option::of(arb_string()),
        arb_string(),
        any::<i32>(),
        any::<i32>(),
        proptest::collection::vec(
            (arb_string(), proptest::collection::vec(any::<u8>(), 0..6)),
            0..3,
        ),
        proptest::collection::vec(any::<u8>(), 0..6),
    )
        .prop_map(
            move |(inst, client_id, s, r, protocols, assignment)| MemberRecord {
                member_id: format!("m{i}"),
                group_instance_id: inst.map(|x| format!("{x}#{i}")),
                client_id,
                session_timeout_ms: s,
                rebalance_timeout_ms: r,
                protocols: protocols
                    .into_iter()
                    .map(|(name, metadata)| Protocol { name, metadata })
                    .collect(),
                assignment,
            },
        )
}

fn arb_record() -> impl Strategy<Value = GroupRecord> {
    let metadata = (
        arb_string(),
        0..=i32::MAX,
        proptest::option::of(arb_string()),
        proptest::option::of(arb_string()),
        (0usize..4).prop_flat_map(|n| (0..n).map(arb_member).collect::<Vec<_>>()),
        prop_oneof![
            Just(GroupState::PreparingRebalance),
            Just(GroupState::CompletingRebalance),
            Just(GroupState::Stable)
        ],
    )
        .prop_map(
            |(group_id, generation_id, protocol_type, protocol_name, members, state)| {
                GroupRecord::Metadata(GroupMetadataRecord {
                    group_id,
                    state: if members.is_empty() {
                        GroupState::Empty
                    } else {
                        state
                    },
                    generation_id,
                    protocol_type,
                    protocol_name,
                    leader: members.first().map(|m| m.member_id.clone()),
                    members,
                })
            },
        );
    prop_oneof![
        metadata,
        arb_string().prop_map(|group_id| GroupRecord::Tombstone { group_id }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_record_round_trips(r in arb_record()) {
        let bytes = r.encode();
        prop_assert_eq!(bytes.len(), r.encoded_len());
        prop_assert_eq!(GroupRecord::decode(&bytes).unwrap(), r);
        semel_group::fuzzing::group_records(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        semel_group::fuzzing::group_records(&data);
    }
}
