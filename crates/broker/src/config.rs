//! Broker configuration: built-in defaults, overridden by an optional TOML file, overridden by
//! command-line flags.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// When an `acks=all` produce may be answered, and when the log is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Flush (fdatasync) before answering an `acks=all` produce; many requests share one flush.
    Always,
    /// Flush every `n` milliseconds; `acks=all` is answered after the append, before the flush.
    IntervalMs(u64),
    /// Never flush explicitly; the operating system writes pages back when it likes.
    Os,
}

impl FromStr for FlushPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(Self::Always),
            "os" => Ok(Self::Os),
            other => match other.strip_prefix("interval:") {
                Some(ms) => match ms.parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Self::IntervalMs(ms)),
                    _ => Err(format!(
                        "`{other}`: interval must be a positive number of milliseconds"
                    )),
                },
                None => Err(format!("`{other}`: expected always, interval:MS or os")),
            },
        }
    }
}

impl fmt::Display for FlushPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => f.write_str("always"),
            Self::IntervalMs(ms) => write!(f, "interval:{ms}"),
            Self::Os => f.write_str("os"),
        }
    }
}

/// The default of `--page-cache-window-bytes`: 64 MiB per partition keeps what tailing
/// consumers read in memory.
pub const DEFAULT_PAGE_CACHE_WINDOW_BYTES: u64 = 64 * 1024 * 1024;

/// Everything the broker needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address the Kafka listener binds.
    pub listen: SocketAddr,
    /// `host:port` clients are told to connect to (Metadata, FindCoordinator).
    pub advertised_addr: (String, u16),
    /// Directory holding every log and the internal state.
    pub data_dir: PathBuf,
    /// Flush policy.
    pub flush: FlushPolicy,
    /// Address of the Prometheus metrics endpoint, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// Create topics on first use (Metadata, Produce).
    pub auto_create_topics: bool,
    /// Partitions of an auto-created topic, and the default for CreateTopics with -1.
    pub num_partitions: i32,
    /// Size of one log segment file.
    pub segment_bytes: u64,
    /// Default retention by size per partition; `None` keeps everything.
    pub retention_bytes: Option<u64>,
    /// Default retention by age; `None` keeps everything.
    pub retention_ms: Option<u64>,
    /// Per partition, flushed data more than this many bytes behind the end is dropped from
    /// the page cache, so appends reuse its memory (`semel_log::LogConfig::
    /// cache_window_bytes`); `None` leaves the page cache to the kernel.
    pub page_cache_window_bytes: Option<u64>,
    /// Largest request frame accepted.
    pub max_request_bytes: usize,
    /// Longest transaction timeout a producer may ask for (Kafka's
    /// `transaction.max.timeout.ms`); longer ones get INVALID_TRANSACTION_TIMEOUT.
    pub transaction_max_timeout_ms: i32,
}

impl Default for Config {
    fn default() -> Self {
        let listen = SocketAddr::from(([127, 0, 0, 1], 9092));
        Self {
            listen,
            advertised_addr: ("127.0.0.1".to_owned(), 9092),
            data_dir: PathBuf::from("semel-data"),
            flush: FlushPolicy::Always,
            metrics_listen: None,
            auto_create_topics: true,
            num_partitions: 1,
            segment_bytes: 128 * 1024 * 1024,
            retention_bytes: None,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            page_cache_window_bytes: Some(DEFAULT_PAGE_CACHE_WINDOW_BYTES),
            max_request_bytes: 100 * 1024 * 1024,
            transaction_max_timeout_ms: 900_000,
        }
    }
}

/// The keys of the optional TOML file (`--config`); each matches a command-line flag.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--advertised-addr`.
    pub advertised_addr: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--flush`.
    pub flush: Option<String>,
    /// `--metrics-listen`.
    pub metrics_listen: Option<String>,
    /// `--auto-create-topics`.
    pub auto_create_topics: Option<bool>,
    /// `--num-partitions`.
    pub num_partitions: Option<i32>,
    /// `--segment-bytes`.
    pub segment_bytes: Option<u64>,
    /// `--retention-bytes` (-1 = unlimited).
    pub retention_bytes: Option<i64>,
    /// `--retention-ms` (-1 = unlimited).
    pub retention_ms: Option<i64>,
    /// `--page-cache-window-bytes` (-1 = no window).
    pub page_cache_window_bytes: Option<i64>,
    /// `--transaction-max-timeout-ms`.
    pub transaction_max_timeout_ms: Option<i32>,
}

/// A configuration problem, named precisely.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown keys.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{key}: {message}")]
    Invalid {
        /// The flag or key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Applies the keys present in a TOML file over `self`.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML, has unknown keys, or holds invalid values.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        self.apply(file)
    }

    /// Applies every `Some` value of `overrides` over `self`, validating each.
    ///
    /// # Errors
    /// A value that is malformed or out of range.
    pub fn apply(&mut self, overrides: FileConfig) -> Result<(), ConfigError> {
        if let Some(listen) = overrides.listen {
            self.listen = parse_addr("listen", &listen)?;
            // Unless told otherwise, advertise where we listen.
            self.advertised_addr = (self.listen.ip().to_string(), self.listen.port());
        }
        if let Some(advertised) = overrides.advertised_addr {
            self.advertised_addr = parse_host_port(&advertised)?;
        }
        if let Some(dir) = overrides.data_dir {
            self.data_dir = dir;
        }
        if let Some(flush) = overrides.flush {
            self.flush = flush.parse().map_err(|message| ConfigError::Invalid {
                key: "flush",
                message,
            })?;
        }
        if let Some(metrics) = overrides.metrics_listen {
            self.metrics_listen = Some(parse_addr("metrics-listen", &metrics)?);
        }
        if let Some(auto) = overrides.auto_create_topics {
            self.auto_create_topics = auto;
        }
        if let Some(n) = overrides.num_partitions {
            if !(1..=10_000).contains(&n) {
                return Err(ConfigError::Invalid {
                    key: "num-partitions",
                    message: format!("{n} is outside 1..=10000"),
                });
            }
            self.num_partitions = n;
        }
        if let Some(bytes) = overrides.segment_bytes {
            if !(1024 * 1024..=1 << 40).contains(&bytes) {
                return Err(ConfigError::Invalid {
                    key: "segment-bytes",
                    message: format!("{bytes} is outside 1 MiB..=1 TiB"),
                });
            }
            self.segment_bytes = bytes;
        }
        if let Some(bytes) = overrides.retention_bytes {
            self.retention_bytes = unlimited_or_positive("retention-bytes", bytes)?;
        }
        if let Some(ms) = overrides.retention_ms {
            self.retention_ms = unlimited_or_positive("retention-ms", ms)?;
        }
        if let Some(bytes) = overrides.page_cache_window_bytes {
            self.page_cache_window_bytes = unlimited_or_positive("page-cache-window-bytes", bytes)?;
        }
        if let Some(ms) = overrides.transaction_max_timeout_ms {
            if ms <= 0 {
                return Err(ConfigError::Invalid {
                    key: "transaction-max-timeout-ms",
                    message: format!("{ms}: expected a positive number of milliseconds"),
                });
            }
            self.transaction_max_timeout_ms = ms;
        }
        Ok(())
    }
}

fn unlimited_or_positive(key: &'static str, value: i64) -> Result<Option<u64>, ConfigError> {
    match value {
        -1 => Ok(None),
        v if v > 0 => Ok(Some(v.unsigned_abs())),
        v => Err(ConfigError::Invalid {
            key,
            message: format!("{v}: expected -1 (unlimited) or a positive number"),
        }),
    }
}

fn parse_addr(key: &'static str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| ConfigError::Invalid {
        key,
        message: format!("`{s}` is not an IP:PORT address"),
    })
}

fn parse_host_port(s: &str) -> Result<(String, u16), ConfigError> {
    let invalid = || ConfigError::Invalid {
        key: "advertised-addr",
        message: format!("`{s}` is not HOST:PORT"),
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_policies_parse_and_print() {
        for text in ["always", "os", "interval:5"] {
            let policy: FlushPolicy = text.parse().unwrap();
            assert_eq!(policy.to_string(), text);
        }
        assert!("interval:0".parse::<FlushPolicy>().is_err());
        assert!("sometimes".parse::<FlushPolicy>().is_err());
    }

    #[test]
    fn listen_moves_the_advertised_address_unless_it_is_given() {
        let mut config = Config::default();
        config
            .apply(FileConfig {
                listen: Some("127.0.0.1:19092".into()),
                ..FileConfig::default()
            })
            .unwrap();
        assert_eq!(config.advertised_addr, ("127.0.0.1".to_owned(), 19092));
        config
            .apply(FileConfig {
                advertised_addr: Some("broker.example:9000".into()),
                ..FileConfig::default()
            })
            .unwrap();
        assert_eq!(config.advertised_addr, ("broker.example".to_owned(), 9000));
    }

    #[test]
    fn a_file_with_an_unknown_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("semel.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nbogus = 1\n").unwrap();
        let err = Config::default().apply_file(&path).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let mut config = Config::default();
        let bad = FileConfig {
            retention_ms: Some(0),
            ..FileConfig::default()
        };
        assert!(config.apply(bad).is_err());
        let bad = FileConfig {
            num_partitions: Some(0),
            ..FileConfig::default()
        };
        assert!(config.apply(bad).is_err());
        let unlimited = FileConfig {
            retention_bytes: Some(-1),
            ..FileConfig::default()
        };
        config.apply(unlimited).unwrap();
        assert_eq!(config.retention_bytes, None);
        assert_eq!(
            config.page_cache_window_bytes,
            Some(DEFAULT_PAGE_CACHE_WINDOW_BYTES)
        );
        let no_window = FileConfig {
            page_cache_window_bytes: Some(-1),
            ..FileConfig::default()
        };
        config.apply(no_window).unwrap();
        assert_eq!(config.page_cache_window_bytes, None);
        let bad = FileConfig {
            page_cache_window_bytes: Some(0),
            ..FileConfig::default()
        };
        assert!(config.apply(bad).is_err());
    }
}
