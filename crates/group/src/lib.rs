//! Classic Kafka consumer-group membership as a sans-IO state machine: JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, generations, rebalance and session timeouts, DescribeGroups,
//! ListGroups, DeleteGroups, and the membership check behind OffsetCommit.
//!
//! What it is: [`GroupCoordinator`] holds every group (Empty → PreparingRebalance →
//! CompletingRebalance → Stable, as in Kafka's `GroupCoordinator`). It takes request fields
//! as plain values and the current time as `now_ms`, answers at once or *parks* a request
//! (JoinGroup until the join phase completes, SyncGroup until the leader's assignment
//! arrives), and hands out parked answers and [`GroupRecord`]s to persist through
//! [`GroupCoordinator::poll_event`]. [`GroupCoordinator::poll_timeout`] says when to call
//! [`GroupCoordinator::tick`] next. [`GroupCoordinator::replay`] rebuilds the groups from
//! the persisted records after a restart.
//!
//! What it is not: no clock, no RNG (the caller seeds the member-id generator), no I/O, no
//! wire types (the broker converts to and from semel-wire), no offset storage (semel-offsets
//! stores offsets; this crate only says whether a commit's member and generation are valid).
//! Only the classic protocol: no KIP-848 `ConsumerGroupHeartbeat`.
//!
//! # Example
//!
//! One consumer joins a group, becomes its leader, assigns itself, heartbeats.
//!
//! ```
//! use semel_group::{
//!     ErrorCode, Event, GroupConfig, GroupCoordinator, GroupState, HeartbeatRequest,
//!     JoinRequest, Protocol, RequestToken, SyncRequest,
//! };
//!
//! let mut coordinator = GroupCoordinator::new(GroupConfig::default(), 42);
//! let join = |member_id: &str| JoinRequest {
//!     api_version: 9,
//!     group_id: "g".into(),
//!     client_id: "c".into(),
//!     session_timeout_ms: 10_000,
//!     rebalance_timeout_ms: 30_000,
//!     member_id: member_id.into(),
//!     group_instance_id: None,
//!     protocol_type: "consumer".into(),
//!     protocols: vec![Protocol { name: "range".into(), metadata: b"sub".to_vec() }],
//! };
//!
//! // v4+: a new member first gets MEMBER_ID_REQUIRED with its id, then rejoins with it.
//! let first = coordinator.handle_join(0, RequestToken(1), join("")).unwrap();
//! assert_eq!(first.error, ErrorCode::MemberIdRequired);
//! let member_id = first.member_id;
//! assert!(coordinator.handle_join(1, RequestToken(2), join(&member_id)).is_none()); // parked
//!
//! // The group leaves Empty: the join phase waits group.initial.rebalance.delay.ms.
//! let deadline = coordinator.poll_timeout().unwrap();
//! coordinator.tick(deadline);
//! let mut joined = None;
//! while let Some(event) = coordinator.poll_event() {
//!     match event {
//!         Event::Persist(record) => { let _bytes = record.encode(); /* append to the group log */ }
//!         Event::Join { token, response } => joined = Some((token, response)),
//!         Event::Sync { .. } => unreachable!(),
//!     }
//! }
//! let (token, response) = joined.unwrap();
//! assert_eq!((token, response.generation_id), (RequestToken(2), 1));
//! assert_eq!(response.leader, member_id);
//!
//! // The leader's SyncGroup completes the rebalance: persist first, then answer.
//! let sync = SyncRequest {
//!     group_id: "g".into(),
//!     generation_id: 1,
//!     member_id: member_id.clone(),
//!     group_instance_id: None,
//!     protocol_type: Some("consumer".into()),
//!     protocol_name: Some("range".into()),
//!     assignments: vec![(member_id.clone(), b"p0".to_vec())],
//! };
//! assert!(coordinator.handle_sync(deadline, RequestToken(3), sync).is_none());
//! assert!(matches!(coordinator.poll_event(), Some(Event::Persist(_))));
//! match coordinator.poll_event() {
//!     Some(Event::Sync { response, .. }) => assert_eq!(response.assignment, b"p0"),
//!     other => panic!("{other:?}"),
//! }
//! assert_eq!(coordinator.group_state("g"), Some(GroupState::Stable));
//!
//! let hb = HeartbeatRequest {
//!     group_id: "g".into(),
//!     generation_id: 1,
//!     member_id,
//!     group_instance_id: None,
//! };
//! assert_eq!(coordinator.handle_heartbeat(deadline + 1, &hb), ErrorCode::None);
//! ```

mod coordinator;
mod error;
mod group;
mod record;
mod types;

pub use coordinator::GroupCoordinator;
pub use error::{ErrorCode, GroupError};
pub use record::{GroupMetadataRecord, GroupRecord, MemberRecord, RECORD_VERSION};
pub use types::{
    DescribedGroup, DescribedMember, Event, GroupConfig, GroupState, HeartbeatRequest, JoinRequest,
    JoinResponse, JoinedMember, LeaveMemberResponse, LeaveResponse, LeavingMember, ListedGroup,
    OffsetCommitCheck, Protocol, RequestToken, SyncRequest, SyncResponse,
};

/// Entry points for the fuzz targets (`fuzz/fuzz_targets/group_records.rs`); also replayed
/// over the committed corpus by this crate's tests.
#[doc(hidden)]
pub mod fuzzing {
    use crate::record::GroupRecord;

    /// Arbitrary bytes decoded as a group-metadata record must either fail with a typed
    /// error or decode to a record that re-encodes to exactly the same bytes, with the
    /// predicted length.
    ///
    /// The input is tried twice: as a whole record, and as a record body with its correct
    /// checksum appended, so that mutations reach the field decoders behind the CRC.
    pub fn group_records(data: &[u8]) {
        round_trip(data);
        let mut sealed = data.to_vec();
        sealed.extend_from_slice(&crc32fast::hash(data).to_be_bytes());
        round_trip(&sealed);
    }

    fn round_trip(data: &[u8]) {
        if let Ok(record) = GroupRecord::decode(data) {
            let encoded = record.encode();
            assert_eq!(encoded.len(), record.encoded_len(), "predicted length");
            assert_eq!(encoded, data, "decode then encode must give the same bytes");
        }
    }
}
