//! The matrix: delivery semantics, faults, and which outcomes each fault can cause.

use std::fmt;
use std::str::FromStr;

/// A delivery guarantee, as a real librdkafka producer and consumer configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Semantics {
    /// `acks=1`, `retries=0`, no idempotence; the consumer commits its offset before applying.
    AtMostOnce,
    /// `acks=all`, retries on, no idempotence; the consumer applies, then commits.
    AtLeastOnce,
    /// Transactional idempotent producer; `read_committed` consumer that applies through the
    /// dedup store (effect and idempotency key in one database transaction), then commits.
    ExactlyOnce,
    /// Transactional idempotent producer; a consume-transform-produce copier (`read_committed`,
    /// output and input offsets in one Kafka transaction with `send_offsets_to_transaction`);
    /// the ledger consumer reads the copier's output `read_committed` and applies every
    /// message it gets, without a dedup check, so the broker's transactions alone must keep
    /// the ledger exact. The consumer-crash fault crashes the copier.
    ExactlyOnceTransform,
}

impl Semantics {
    /// Every semantics, in report order.
    pub const ALL: [Self; 4] = [
        Self::AtMostOnce,
        Self::AtLeastOnce,
        Self::ExactlyOnce,
        Self::ExactlyOnceTransform,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::AtMostOnce => "at-most-once",
            Self::AtLeastOnce => "at-least-once",
            Self::ExactlyOnce => "exactly-once",
            Self::ExactlyOnceTransform => "exactly-once-ctp",
        }
    }
}

impl fmt::Display for Semantics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Semantics {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                format!("unknown semantics {s:?} (at-most-once, at-least-once, exactly-once, exactly-once-ctp)")
            })
    }
}

/// A fault injected while a cell runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Nothing goes wrong.
    None,
    /// A TCP proxy drops every n-th Produce answer and cuts that connection (the broker stored
    /// the batch; the producer never hears so).
    LostAcks,
    /// The producer crashes halfway (its queue and in-flight requests purged, no flush) and a
    /// new one resumes the way an application of that semantics would.
    ProducerCrash,
    /// The consumer crashes between its two steps once the ledger holds about half the
    /// messages: after applying and before committing the offset (at-least-once, exactly-once),
    /// after committing and before applying (at-most-once). A new consumer resumes from the
    /// committed offset.
    ConsumerCrash,
    /// The broker is killed with SIGKILL while the producer is a little past half of the
    /// workload (with a quarter acknowledged, the rest queued or in flight), and restarted on
    /// the same port and data directory.
    BrokerKill,
}

impl Fault {
    /// Every fault, in report order.
    pub const ALL: [Self; 5] = [
        Self::None,
        Self::LostAcks,
        Self::ProducerCrash,
        Self::ConsumerCrash,
        Self::BrokerKill,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::LostAcks => "lost-acks",
            Self::ProducerCrash => "producer-crash",
            Self::ConsumerCrash => "consumer-crash",
            Self::BrokerKill => "broker-kill",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| {
            format!(
                "unknown fault {s:?} (none, lost-acks, producer-crash, consumer-crash, broker-kill)"
            )
        })
    }
}

/// Whether a fault can make a semantics lose or duplicate messages (by its design; the lab
/// measures whether it actually did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    /// The fault can leave a message never applied.
    pub can_lose: bool,
    /// The fault can make a message applied more than once.
    pub can_duplicate: bool,
}

/// What `fault` can do to `semantics`.
///
/// At-most-once never retries and commits before applying, so nothing is ever applied twice,
/// but any fault can drop what was in flight. At-least-once retries and commits after
/// applying, so nothing acknowledged is lost, but any fault can make a message applied twice.
/// Exactly-once can do neither; with no fault nothing can happen to anybody.
pub fn exposure(semantics: Semantics, fault: Fault) -> Exposure {
    let faulty = fault != Fault::None;
    match semantics {
        Semantics::AtMostOnce => Exposure {
            can_lose: faulty,
            can_duplicate: false,
        },
        Semantics::AtLeastOnce => Exposure {
            can_lose: false,
            can_duplicate: faulty,
        },
        Semantics::ExactlyOnce | Semantics::ExactlyOnceTransform => Exposure {
            can_lose: false,
            can_duplicate: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for s in Semantics::ALL {
            assert_eq!(s.name().parse::<Semantics>(), Ok(s));
        }
        for f in Fault::ALL {
            assert_eq!(f.name().parse::<Fault>(), Ok(f));
        }
        assert!("twice".parse::<Semantics>().is_err());
        assert!("meteor".parse::<Fault>().is_err());
    }

    #[test]
    fn no_fault_exposes_nobody() {
        for s in Semantics::ALL {
            assert_eq!(
                exposure(s, Fault::None),
                Exposure {
                    can_lose: false,
                    can_duplicate: false
                }
            );
        }
    }
}
