//! Plain request, response and event types (no wire types: the broker converts at the edge).

use crate::error::ErrorCode;
use crate::record::GroupRecord;

/// The state of a classic consumer group (Kafka's `GroupState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupState {
    /// No members (a new group, or every member left).
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// The join phase completed; waiting for the leader's SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment for the current generation.
    Stable,
    /// The group does not exist (DescribeGroups answers this for unknown groups).
    Dead,
}

impl GroupState {
    /// Kafka's name for the state, as DescribeGroups and ListGroups send it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

/// Broker settings that govern groups (Kafka's `group.*` configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms` (6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms` (3000): extra wait when a group leaves Empty.
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size` (unbounded by default).
    pub max_size: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_size: usize::MAX,
        }
    }
}

/// The caller's handle for one request, echoed with its (possibly later) response so the
/// caller can route it to the right connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestToken(pub u64);

/// One protocol a member supports: a name (the assignor) and opaque metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// Protocol name (for consumers, the assignor: `range`, `cooperative-sticky`, …).
    pub name: String,
    /// Opaque metadata (for consumers, the serialized subscription).
    pub metadata: Vec<u8>,
}

/// A JoinGroup request's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The request's API version (v4+ gets MEMBER_ID_REQUIRED, v9+ `skip_assignment`).
    pub api_version: i16,
    /// The group.
    pub group_id: String,
    /// The client id from the request header (prefix of a generated member id).
    pub client_id: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (v0 requests have none: pass the session timeout).
    pub rebalance_timeout_ms: i32,
    /// The member id, `""` for a new member.
    pub member_id: String,
    /// `group.instance.id` of a static member (v5+).
    pub group_instance_id: Option<String>,
    /// `"consumer"` for consumers.
    pub protocol_type: String,
    /// Supported protocols in preference order.
    pub protocols: Vec<Protocol>,
}

/// One member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static member's instance id.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Vec<u8>,
}

/// A JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    /// `None` on success.
    pub error: ErrorCode,
    /// The generation the member joined (-1 on error).
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id (`""` on error).
    pub leader: String,
    /// v9+: the returning static leader must not compute a new assignment.
    pub skip_assignment: bool,
    /// The member's id (the new one for a new member; set with MEMBER_ID_REQUIRED too).
    pub member_id: String,
    /// Every member with its metadata, for the leader only; empty for followers.
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    pub(crate) fn error(error: ErrorCode, member_id: &str) -> Self {
        Self {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// The group.
    pub group_id: String,
    /// The generation the member believes in.
    pub generation_id: i32,
    /// The member id.
    pub member_id: String,
    /// Static member's instance id.
    pub group_instance_id: Option<String>,
    /// v5+: the protocol type the member expects.
    pub protocol_type: Option<String>,
    /// v5+: the protocol name the member expects.
    pub protocol_name: Option<String>,
    /// The leader's assignment (member id, assignment); empty for followers.
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// A SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    /// `None` on success.
    pub error: ErrorCode,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// This member's assignment (empty when the leader gave it none, or on error).
    pub assignment: Vec<u8>,
}

impl SyncResponse {
    pub(crate) fn error(error: ErrorCode) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Vec::new(),
        }
    }
}

/// A Heartbeat request's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// The group.
    pub group_id: String,
    /// The generation the member believes in.
    pub generation_id: i32,
    /// The member id.
    pub member_id: String,
    /// Static member's instance id.
    pub group_instance_id: Option<String>,
}

/// One member leaving (LeaveGroup v3+ sends several; v0-2 one, without instance id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// The member id (`""` with an instance id: look the member up by instance id).
    pub member_id: String,
    /// Static member's instance id.
    pub group_instance_id: Option<String>,
}

/// The outcome for one [`LeavingMember`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMemberResponse {
    /// The member id as sent.
    pub member_id: String,
    /// The instance id as sent.
    pub group_instance_id: Option<String>,
    /// `None`, `UNKNOWN_MEMBER_ID` or `FENCED_INSTANCE_ID`.
    pub error: ErrorCode,
}

/// A LeaveGroup response: a group-level error and one entry per leaving member.
///
/// For LeaveGroup v0-2 the broker sends the first non-`None` of `error` and the single
/// member's error as the top-level error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveResponse {
    /// Group-level error (`INVALID_GROUP_ID`), `None` otherwise.
    pub error: ErrorCode,
    /// Per-member outcomes, in request order.
    pub members: Vec<LeaveMemberResponse>,
}

/// The membership fields of an OffsetCommit or TxnOffsetCommit, for
/// [`GroupCoordinator::validate_offset_commit`](crate::GroupCoordinator::validate_offset_commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetCommitCheck<'a> {
    /// The group.
    pub group_id: &'a str,
    /// `GenerationIdOrMemberEpoch` (-1 when the committer is not a member).
    pub generation_id: i32,
    /// Member id (`""` when none).
    pub member_id: &'a str,
    /// Static member's instance id.
    pub group_instance_id: Option<&'a str>,
    /// `true` for TxnOffsetCommit (NOTES D.6), `false` for OffsetCommit (E.7).
    pub transactional: bool,
}

/// One member in a DescribeGroups answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// Member id.
    pub member_id: String,
    /// Static member's instance id.
    pub group_instance_id: Option<String>,
    /// Client id of its last join.
    pub client_id: String,
    /// Metadata for the chosen protocol (empty unless the group is Stable).
    pub metadata: Vec<u8>,
    /// Assignment (empty unless the group is Stable).
    pub assignment: Vec<u8>,
}

/// A DescribeGroups answer for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// Always `None`: an unknown group is described as Dead with no error, as Kafka does.
    pub error: ErrorCode,
    /// The group.
    pub group_id: String,
    /// Its state (`Dead` when unknown).
    pub state: GroupState,
    /// Protocol type (`""` when none).
    pub protocol_type: String,
    /// The chosen protocol when Stable, `""` otherwise.
    pub protocol_data: String,
    /// The current generation (not on the wire; useful to callers and tests).
    pub generation_id: i32,
    /// The leader (not on the wire).
    pub leader: Option<String>,
    /// Members in member-id order.
    pub members: Vec<DescribedMember>,
}

/// A ListGroups entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group.
    pub group_id: String,
    /// Protocol type (`""` for standalone-commit groups).
    pub protocol_type: String,
    /// Its state (ListGroups v4+).
    pub state: GroupState,
}

/// Output of the coordinator, drained with
/// [`GroupCoordinator::poll_event`](crate::GroupCoordinator::poll_event) in order.
///
/// Ordering is a contract: a [`Event::Persist`] must be durably stored before any response
/// that follows it is sent (a SyncGroup answer promises that the assignment survives a
/// restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A group-metadata record to append to the group log (encode with
    /// [`GroupRecord::encode`]).
    Persist(GroupRecord),
    /// The answer to a parked JoinGroup.
    Join {
        /// The request's token.
        token: RequestToken,
        /// Its response.
        response: JoinResponse,
    },
    /// The answer to a parked SyncGroup.
    Sync {
        /// The request's token.
        token: RequestToken,
        /// Its response.
        response: SyncResponse,
    },
}
