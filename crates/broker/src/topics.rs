//! Topics and their configuration, persisted as records in an internal `semel-log` log
//! (`<data-dir>/__meta`) and replayed on start.
//!
//! The record format is ours (not Kafka's), versioned, written with semel-wire's primitives:
//!
//! ```text
//! version i8 (0) | kind i8 | name string | kind-specific fields
//!   kind 1 CreateTopic:    id uuid, partitions i32, configs [(string, string)]
//!   kind 2 DeleteTopic:    —
//!   kind 3 SetConfigs:     configs [(string, string)]      (replaces every override)
//!   kind 4 SetPartitions:  partitions i32                   (only ever grows)
//! ```

use bytes::Bytes;
use semel_wire::{DecodeError, DecodeErrorKind, Decoder, Encoder, Uuid};
use std::collections::BTreeMap;

/// Topic configuration keys semel honours, with what each must hold.
pub const SUPPORTED_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "max.message.bytes",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
];

/// Default of `max.message.bytes` (Kafka's, plus the batch overhead as Kafka counts it).
pub const DEFAULT_MAX_MESSAGE_BYTES: i64 = 1_048_588;

/// A topic's configuration overrides (keys from [`SUPPORTED_CONFIGS`]), validated.
pub type TopicConfigs = BTreeMap<String, String>;

/// Checks one topic config entry the way CreateTopics and IncrementalAlterConfigs need.
///
/// # Errors
/// A message for INVALID_CONFIG: unknown key, unsupported value, or out-of-range number.
pub fn validate_config(key: &str, value: &str) -> Result<(), String> {
    let number_in = |min: i64, max: i64| -> Result<(), String> {
        match value.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(()),
            _ => Err(format!(
                "{key}: `{value}` must be an integer from {min} to {max}"
            )),
        }
    };
    let number = |min: i64| number_in(min, i64::MAX);
    match key {
        "cleanup.policy" => match value {
            "delete" => Ok(()),
            other => Err(format!(
                "cleanup.policy `{other}` is not supported by semel (only `delete`)"
            )),
        },
        "max.message.bytes" => number(0),
        "retention.bytes" | "retention.ms" => {
            if value == "-1" {
                Ok(())
            } else {
                number(1)
            }
        }
        // An int in Kafka's schema, so at most 2^31 - 1 (semel's log allows up to 4 GiB).
        "segment.bytes" => number_in(1024 * 1024, i64::from(i32::MAX)),
        other => Err(format!("unknown or unsupported topic config `{other}`")),
    }
}

/// Is `name` a legal Kafka topic name (1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`)?
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One change to the topic set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaRecord {
    /// A topic was created.
    CreateTopic {
        /// Topic name.
        name: String,
        /// Topic id.
        id: Uuid,
        /// Partition count.
        partitions: i32,
        /// Config overrides.
        configs: TopicConfigs,
    },
    /// A topic was deleted.
    DeleteTopic {
        /// Topic name.
        name: String,
    },
    /// A topic's config overrides were replaced.
    SetConfigs {
        /// Topic name.
        name: String,
        /// The new overrides.
        configs: TopicConfigs,
    },
    /// A topic's partition count grew.
    SetPartitions {
        /// Topic name.
        name: String,
        /// New partition count.
        partitions: i32,
    },
}

const RECORD_VERSION: i8 = 0;

impl MetaRecord {
    /// Encodes the record.
    pub fn encode(&self) -> Bytes {
        let mut e = Encoder::new();
        e.put_i8(RECORD_VERSION);
        let (kind, name) = match self {
            Self::CreateTopic { name, .. } => (1, name),
            Self::DeleteTopic { name } => (2, name),
            Self::SetConfigs { name, .. } => (3, name),
            Self::SetPartitions { name, .. } => (4, name),
        };
        e.put_i8(kind);
        put_str(&mut e, name);
        match self {
            Self::CreateTopic {
                id,
                partitions,
                configs,
                ..
            } => {
                e.put_uuid(id);
                e.put_i32(*partitions);
                put_configs(&mut e, configs);
            }
            Self::DeleteTopic { .. } => {}
            Self::SetConfigs { configs, .. } => put_configs(&mut e, configs),
            Self::SetPartitions { partitions, .. } => e.put_i32(*partitions),
        }
        e.into_bytes()
    }

    /// Decodes a record.
    ///
    /// # Errors
    /// Unknown version or kind, truncation, or malformed fields.
    pub fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(bytes);
        let version = d.i8()?;
        if version != RECORD_VERSION {
            return Err(d.error(DecodeErrorKind::InvalidValue {
                what: "unknown meta record version",
            }));
        }
        let kind = d.i8()?;
        let name = d.string(true, "name")?;
        let record = match kind {
            1 => Self::CreateTopic {
                name,
                id: d.uuid()?,
                partitions: d.i32()?,
                configs: get_configs(&mut d)?,
            },
            2 => Self::DeleteTopic { name },
            3 => Self::SetConfigs {
                name,
                configs: get_configs(&mut d)?,
            },
            4 => Self::SetPartitions {
                name,
                partitions: d.i32()?,
            },
            _ => {
                return Err(d.error(DecodeErrorKind::InvalidValue {
                    what: "unknown meta record kind",
                }));
            }
        };
        d.finish()?;
        Ok(record)
    }
}

fn put_str(e: &mut Encoder, s: &str) {
    // Names and config values are validated short strings; a compact string's varint length
    // cannot overflow for them.
    let _ = e.put_string(s, true);
}

fn put_configs(e: &mut Encoder, configs: &TopicConfigs) {
    let _ = e.put_array_len(Some(configs.len()), true);
    for (k, v) in configs {
        put_str(e, k);
        put_str(e, v);
    }
}

fn get_configs(d: &mut Decoder) -> Result<TopicConfigs, DecodeError> {
    let n = d.array_len(true)?.unwrap_or(0);
    let mut configs = TopicConfigs::new();
    for _ in 0..n {
        let k = d.string(true, "config name")?;
        let v = d.string(true, "config value")?;
        configs.insert(k, v);
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_records_round_trip() {
        let mut configs = TopicConfigs::new();
        configs.insert("retention.ms".into(), "1000".into());
        let records = [
            MetaRecord::CreateTopic {
                name: "orders".into(),
                id: Uuid([7; 16]),
                partitions: 8,
                configs: configs.clone(),
            },
            MetaRecord::DeleteTopic {
                name: "orders".into(),
            },
            MetaRecord::SetConfigs {
                name: "t".into(),
                configs,
            },
            MetaRecord::SetPartitions {
                name: "t".into(),
                partitions: 3,
            },
        ];
        for record in records {
            assert_eq!(MetaRecord::decode(record.encode()).unwrap(), record);
        }
    }

    #[test]
    fn damaged_meta_records_are_errors() {
        let bytes = MetaRecord::DeleteTopic { name: "x".into() }.encode();
        for cut in 0..bytes.len() {
            assert!(MetaRecord::decode(bytes.slice(..cut)).is_err());
        }
        let mut wrong_kind = bytes.to_vec();
        wrong_kind[1] = 9;
        assert!(MetaRecord::decode(Bytes::from(wrong_kind)).is_err());
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(is_valid_topic_name("orders.v1_eu-2"));
        for bad in ["", ".", "..", "a/b", "spaces no", &"x".repeat(250)] {
            assert!(!is_valid_topic_name(bad), "{bad}");
        }
    }

    #[test]
    fn configs_are_validated() {
        assert!(validate_config("retention.ms", "-1").is_ok());
        assert!(validate_config("retention.ms", "0").is_err());
        assert!(validate_config("cleanup.policy", "compact").is_err());
        assert!(validate_config("segment.bytes", "10").is_err());
        assert!(validate_config("compression.type", "zstd").is_err());
    }
}
