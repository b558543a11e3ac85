//! Command-line interface: `semel serve` and its flags.

use crate::config::{Config, ConfigError, FileConfig};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// semel: a Kafka-compatible message broker with real at-most-once, at-least-once and
/// exactly-once delivery.
#[derive(Debug, Parser)]
#[command(name = "semel", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a single broker (defaults: listen on 127.0.0.1:9092, data in ./semel-data).
    Serve(ServeArgs),
}

/// Flags of `semel serve`. Each may also be given as the same key in the `--config` file;
/// a flag wins over the file, the file over the built-in default.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the keys below (e.g. `data-dir = "/var/lib/semel"`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address the Kafka listener binds [default: 127.0.0.1:9092].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// HOST:PORT that clients are told to connect to [default: the listen address].
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_addr: Option<String>,
    /// Directory for every log and the broker's own state; locked while the broker runs
    /// [default: ./semel-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// When data is flushed to disk: `always` = fsync before answering an acks=all produce
    /// (many requests share one fsync); `interval:MS` = every MS milliseconds; `os` = leave it
    /// to the operating system [default: always].
    #[arg(long, value_name = "always|interval:MS|os")]
    pub flush: Option<String>,
    /// Serve Prometheus metrics over HTTP on this address [default: off].
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Create a topic the first time a client asks for it [default: true].
    #[arg(long, value_name = "BOOL")]
    pub auto_create_topics: Option<bool>,
    /// Partitions of an auto-created topic [default: 1].
    #[arg(long, value_name = "N")]
    pub num_partitions: Option<i32>,
    /// Size of one log segment file in bytes [default: 134217728].
    #[arg(long, value_name = "BYTES")]
    pub segment_bytes: Option<u64>,
    /// Default retention per partition by size in bytes; -1 keeps everything [default: -1].
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    pub retention_bytes: Option<i64>,
    /// Default retention by age in milliseconds; -1 keeps everything [default: 604800000].
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub retention_ms: Option<i64>,
    /// Per partition, flushed data more than this many bytes behind the end is dropped from
    /// the page cache, so new appends reuse its memory (older data is read from disk); -1
    /// leaves the page cache to the kernel [default: 67108864].
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    pub page_cache_window_bytes: Option<i64>,
    /// Longest transaction timeout a producer may ask for; longer ones are refused with
    /// INVALID_TRANSACTION_TIMEOUT [default: 900000].
    #[arg(long, value_name = "MS")]
    pub transaction_max_timeout_ms: Option<i32>,
}

impl ServeArgs {
    /// The configuration: defaults, then the file, then the flags.
    ///
    /// # Errors
    /// The file or a flag is invalid.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(path) = &self.config {
            config.apply_file(path)?;
        }
        config.apply(FileConfig {
            listen: self.listen,
            advertised_addr: self.advertised_addr,
            data_dir: self.data_dir,
            flush: self.flush,
            metrics_listen: self.metrics_listen,
            auto_create_topics: self.auto_create_topics,
            num_partitions: self.num_partitions,
            segment_bytes: self.segment_bytes,
            retention_bytes: self.retention_bytes,
            retention_ms: self.retention_ms,
            page_cache_window_bytes: self.page_cache_window_bytes,
            transaction_max_timeout_ms: self.transaction_max_timeout_ms,
        })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FlushPolicy;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("semel.toml");
        std::fs::write(&file, "flush = \"os\"\nnum-partitions = 4\n").unwrap();
        let cli = Cli::try_parse_from([
            "semel",
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--num-partitions",
            "8",
            "--retention-ms",
            "-1",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command;
        let config = args.into_config().unwrap();
        assert_eq!(config.flush, FlushPolicy::Os);
        assert_eq!(config.num_partitions, 8);
        assert_eq!(config.retention_ms, None);
        assert_eq!(config.listen, Config::default().listen);
    }
}
