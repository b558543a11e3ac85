//! Group-metadata records: what the coordinator asks the broker to persist, and their codec.
//!
//! The layout (all integers big-endian):
//!
//! ```text
//! u16  version (= 1)
//! u8   kind: 0 = metadata, 1 = tombstone
//! str  group_id
//! -- kind 0 only --
//! u8   state: 0 Empty, 1 PreparingRebalance, 2 CompletingRebalance, 3 Stable
//! i32  generation_id (>= 0)
//! nstr protocol_type
//! nstr protocol_name
//! nstr leader
//! u32  member count, then per member:
//!        str member_id, nstr group_instance_id, str client_id,
//!        i32 session_timeout_ms, i32 rebalance_timeout_ms,
//!        u32 protocol count, then per protocol: str name, bytes metadata,
//!        bytes assignment
//! -- both --
//! u32  CRC-32 (IEEE) of every byte before it
//!
//! str   = u32 length + UTF-8 bytes
//! nstr  = u32 length + UTF-8 bytes, or u32 0xFFFF_FFFF for null
//! bytes = u32 length + bytes
//! ```
//!
//! The encoding is canonical: a byte string that decodes re-encodes to exactly itself.

use crate::error::GroupError;
use crate::types::{GroupState, Protocol};

/// The record format version this build writes and reads.
pub const RECORD_VERSION: u16 = 1;

const KIND_METADATA: u8 = 0;
const KIND_TOMBSTONE: u8 = 1;
const NULL_LEN: u32 = u32::MAX;
/// Smallest possible encoding of a member: three empty strings, a null instance id, two
/// timeouts, an empty protocol list and an empty assignment.
const MEMBER_MIN_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 4 + 4;
/// Smallest possible encoding of a protocol: an empty name and empty metadata.
const PROTOCOL_MIN_BYTES: usize = 4 + 4;

/// One record of the group-metadata stream. Only the latest record of a group matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    /// The group's persistent state after a change (a completed join phase, a completed
    /// SyncGroup, a member removed, a static member replaced).
    Metadata(GroupMetadataRecord),
    /// The group was deleted.
    Tombstone {
        /// The deleted group.
        group_id: String,
    },
}

/// The persistent state of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataRecord {
    /// The group.
    pub group_id: String,
    /// The state when the record was written (never [`GroupState::Dead`]).
    pub state: GroupState,
    /// The current generation.
    pub generation_id: i32,
    /// The members' protocol type (`"consumer"` for consumers).
    pub protocol_type: Option<String>,
    /// The protocol chosen for the current generation.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members, in member-id order.
    pub members: Vec<MemberRecord>,
}

/// One member inside a [`GroupMetadataRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The member id.
    pub member_id: String,
    /// The static member's `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// The client id of the member's last JoinGroup.
    pub client_id: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// The protocols the member supports, in its preference order.
    pub protocols: Vec<Protocol>,
    /// The assignment the leader gave it for the current generation (empty before).
    pub assignment: Vec<u8>,
}

impl GroupRecord {
    /// The group this record is about (the compaction key).
    #[must_use]
    pub fn group_id(&self) -> &str {
        match self {
            Self::Metadata(m) => &m.group_id,
            Self::Tombstone { group_id } => group_id,
        }
    }

    /// Encodes the record.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&RECORD_VERSION.to_be_bytes());
        match self {
            Self::Tombstone { group_id } => {
                out.push(KIND_TOMBSTONE);
                put_str(&mut out, group_id);
            }
            Self::Metadata(m) => {
                out.push(KIND_METADATA);
                put_str(&mut out, &m.group_id);
                out.push(state_tag(m.state));
                out.extend_from_slice(&m.generation_id.to_be_bytes());
                put_nstr(&mut out, m.protocol_type.as_deref());
                put_nstr(&mut out, m.protocol_name.as_deref());
                put_nstr(&mut out, m.leader.as_deref());
                put_len(&mut out, m.members.len());
                for member in &m.members {
                    put_str(&mut out, &member.member_id);
                    put_nstr(&mut out, member.group_instance_id.as_deref());
                    put_str(&mut out, &member.client_id);
                    out.extend_from_slice(&member.session_timeout_ms.to_be_bytes());
                    out.extend_from_slice(&member.rebalance_timeout_ms.to_be_bytes());
                    put_len(&mut out, member.protocols.len());
                    for p in &member.protocols {
                        put_str(&mut out, &p.name);
                        put_bytes(&mut out, &p.metadata);
                    }
                    put_bytes(&mut out, &member.assignment);
                }
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// The exact number of bytes [`GroupRecord::encode`] produces.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let body = match self {
            Self::Tombstone { group_id } => 4 + group_id.len(),
            Self::Metadata(m) => {
                let nstr = |s: &Option<String>| 4 + s.as_ref().map_or(0, String::len);
                4 + m.group_id.len()
                    + 1
                    + 4
                    + nstr(&m.protocol_type)
                    + nstr(&m.protocol_name)
                    + nstr(&m.leader)
                    + 4
                    + m.members
                        .iter()
                        .map(|member| {
                            4 + member.member_id.len()
                                + nstr(&member.group_instance_id)
                                + 4
                                + member.client_id.len()
                                + 8
                                + 4
                                + member
                                    .protocols
                                    .iter()
                                    .map(|p| 8 + p.name.len() + p.metadata.len())
                                    .sum::<usize>()
                                + 4
                                + member.assignment.len()
                        })
                        .sum::<usize>()
            }
        };
        2 + 1 + body + 4
    }

    /// Decodes one record.
    ///
    /// # Errors
    ///
    /// A [`GroupError`] saying what is wrong and where: truncation, a checksum mismatch, an
    /// unknown version or tag, invalid UTF-8, trailing bytes, or an inconsistent group
    /// (duplicate member or instance id, a leader that is not a member, a negative generation).
    pub fn decode(bytes: &[u8]) -> Result<Self, GroupError> {
        if bytes.len() < 2 + 1 + 4 {
            return Err(GroupError::Truncated {
                field: "record",
                offset: 0,
                needed: 7,
                remaining: bytes.len(),
            });
        }
        let (body, crc_bytes) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_be_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        let computed = crc32fast::hash(body);
        if stored != computed {
            return Err(GroupError::ChecksumMismatch { stored, computed });
        }
        let mut r = Reader { buf: body, pos: 0 };
        let version = r.u16("version")?;
        if version != RECORD_VERSION {
            return Err(GroupError::UnsupportedVersion {
                version,
                supported: RECORD_VERSION,
            });
        }
        let kind_at = r.pos;
        let kind = r.u8("kind")?;
        let record = match kind {
            KIND_TOMBSTONE => Self::Tombstone {
                group_id: r.str("group_id")?,
            },
            KIND_METADATA => Self::Metadata(decode_metadata(&mut r)?),
            other => {
                return Err(GroupError::InvalidValue {
                    field: "kind",
                    offset: kind_at,
                    value: i64::from(other),
                });
            }
        };
        if r.pos != body.len() {
            return Err(GroupError::TrailingBytes {
                extra: body.len() - r.pos,
            });
        }
        Ok(record)
    }
}

fn decode_metadata(r: &mut Reader<'_>) -> Result<GroupMetadataRecord, GroupError> {
    let group_id = r.str("group_id")?;
    let state_at = r.pos;
    let state = match r.u8("state")? {
        0 => GroupState::Empty,
        1 => GroupState::PreparingRebalance,
        2 => GroupState::CompletingRebalance,
        3 => GroupState::Stable,
        other => {
            return Err(GroupError::InvalidValue {
                field: "state",
                offset: state_at,
                value: i64::from(other),
            });
        }
    };
    let generation_at = r.pos;
    let generation_id = r.i32("generation_id")?;
    if generation_id < 0 {
        return Err(GroupError::InvalidValue {
            field: "generation_id",
            offset: generation_at,
            value: i64::from(generation_id),
        });
    }
    let protocol_type = r.nstr("protocol_type")?;
    let protocol_name = r.nstr("protocol_name")?;
    let leader = r.nstr("leader")?;
    let count = r.count("member_count", MEMBER_MIN_BYTES)?;
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = r.str("member_id")?;
        let group_instance_id = r.nstr("group_instance_id")?;
        let client_id = r.str("client_id")?;
        let session_timeout_ms = r.i32("session_timeout_ms")?;
        let rebalance_timeout_ms = r.i32("rebalance_timeout_ms")?;
        let n = r.count("protocol_count", PROTOCOL_MIN_BYTES)?;
        let mut protocols = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.str("protocol_name")?;
            let metadata = r.bytes("protocol_metadata")?;
            protocols.push(Protocol { name, metadata });
        }
        let assignment = r.bytes("assignment")?;
        members.push(MemberRecord {
            member_id,
            group_instance_id,
            client_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            protocols,
            assignment,
        });
    }
    let inconsistent = |reason| GroupError::Inconsistent {
        group_id: group_id.clone(),
        reason,
    };
    let mut ids = std::collections::BTreeSet::new();
    let mut instances = std::collections::BTreeSet::new();
    for m in &members {
        if !ids.insert(m.member_id.as_str()) {
            return Err(inconsistent("duplicate member id"));
        }
        if let Some(instance) = &m.group_instance_id
            && !instances.insert(instance.as_str())
        {
            return Err(inconsistent("duplicate group instance id"));
        }
    }
    if let Some(leader) = &leader
        && !ids.contains(leader.as_str())
    {
        return Err(inconsistent("leader is not a member"));
    }
    if members.is_empty() != (state == GroupState::Empty) {
        return Err(inconsistent(
            "state Empty if and only if there are no members",
        ));
    }
    Ok(GroupMetadataRecord {
        group_id,
        state,
        generation_id,
        protocol_type,
        protocol_name,
        leader,
        members,
    })
}

pub(crate) fn state_tag(state: GroupState) -> u8 {
    match state {
        GroupState::Empty | GroupState::Dead => 0,
        GroupState::PreparingRebalance => 1,
        GroupState::CompletingRebalance => 2,
        GroupState::Stable => 3,
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Every field comes from a Kafka request, whose frame is at most i32::MAX bytes, so a
    // length always fits in a u32 below the null marker.
    debug_assert!(len < NULL_LEN as usize);
    let len = u32::try_from(len).unwrap_or(NULL_LEN - 1);
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_nstr(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&NULL_LEN.to_be_bytes()),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len());
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], GroupError> {
        let remaining = self.buf.len() - self.pos;
        if n > remaining {
            return Err(GroupError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                remaining,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, GroupError> {
        Ok(self.take(field, 1)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, GroupError> {
        let b = self.take(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, GroupError> {
        let b = self.take(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, GroupError> {
        let b = self.take(field, 4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length that must fit in the remaining bytes (checked before anything is allocated).
    fn len(&mut self, field: &'static str) -> Result<usize, GroupError> {
        let at = self.pos;
        let len = self.u32(field)? as usize;
        let remaining = self.buf.len() - self.pos;
        if len > remaining {
            return Err(GroupError::Truncated {
                field,
                offset: at,
                needed: len,
                remaining,
            });
        }
        Ok(len)
    }

    /// An element count, checked against the smallest encoding of one element.
    fn count(&mut self, field: &'static str, min_bytes: usize) -> Result<usize, GroupError> {
        let at = self.pos;
        let count = self.u32(field)? as usize;
        let remaining = self.buf.len() - self.pos;
        if count > remaining / min_bytes {
            return Err(GroupError::Truncated {
                field,
                offset: at,
                needed: count.saturating_mul(min_bytes),
                remaining,
            });
        }
        Ok(count)
    }

    fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, GroupError> {
        let len = self.len(field)?;
        Ok(self.take(field, len)?.to_vec())
    }

    fn str(&mut self, field: &'static str) -> Result<String, GroupError> {
        let len = self.len(field)?;
        let at = self.pos;
        let raw = self.take(field, len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| GroupError::InvalidUtf8 { field, offset: at })
    }

    fn nstr(&mut self, field: &'static str) -> Result<Option<String>, GroupError> {
        let at = self.pos;
        let b = self.take(field, 4)?;
        if u32::from_be_bytes([b[0], b[1], b[2], b[3]]) == NULL_LEN {
            return Ok(None);
        }
        self.pos = at;
        self.str(field).map(Some)
    }
}
