//! Prometheus metrics: a fixed set of counters and latency histograms, and a tiny HTTP endpoint
//! that serves them in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS_S: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// A latency histogram with fixed buckets.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_S.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS_S
            .iter()
            .position(|&b| seconds <= b)
            .and_then(|i| self.buckets.get(i))
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, bucket) in BUCKETS_S.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// Per-API request statistics.
#[derive(Debug, Default)]
pub struct ApiStats {
    /// Requests handled.
    pub requests: AtomicU64,
    /// Requests answered with an error or a closed connection.
    pub errors: AtomicU64,
    /// Time from frame decoded to response ready.
    pub latency: Histogram,
}

/// Every metric the broker exports.
#[derive(Debug)]
pub struct Metrics {
    apis: BTreeMap<&'static str, ApiStats>,
    /// Bytes read from and written to client sockets (updated by the server as it goes).
    pub traffic: Arc<crate::server::ServerStats>,
    /// fsyncs of log data.
    pub fsyncs: Histogram,
    /// Completed consumer-group rebalances.
    pub rebalances: AtomicU64,
    /// Connections open now.
    pub connections: AtomicI64,
}

impl Metrics {
    /// Metrics for the named APIs (unknown names passed to [`Metrics::api`] are not counted).
    pub fn new(api_names: impl IntoIterator<Item = &'static str>) -> Self {
        Self {
            apis: api_names
                .into_iter()
                .map(|n| (n, ApiStats::default()))
                .collect(),
            traffic: Arc::default(),
            fsyncs: Histogram::default(),
            rebalances: AtomicU64::new(0),
            connections: AtomicI64::new(0),
        }
    }

    /// The statistics of one API, if it is known.
    pub fn api(&self, name: &str) -> Option<&ApiStats> {
        self.apis.get(name)
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP semel_requests_total Requests handled, per API.\n# TYPE semel_requests_total counter\n");
        for (name, stats) in &self.apis {
            let _ = writeln!(
                out,
                "semel_requests_total{{api=\"{name}\"}} {}",
                stats.requests.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP semel_request_errors_total Requests that failed, per API.\n# TYPE semel_request_errors_total counter\n");
        for (name, stats) in &self.apis {
            let _ = writeln!(
                out,
                "semel_request_errors_total{{api=\"{name}\"}} {}",
                stats.errors.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP semel_request_latency_seconds Time to handle a request, per API.\n# TYPE semel_request_latency_seconds histogram\n");
        for (name, stats) in &self.apis {
            stats.latency.render(
                &mut out,
                "semel_request_latency_seconds",
                &format!("api=\"{name}\""),
            );
        }
        let counters = [
            (
                "semel_bytes_in_total",
                "Bytes read from clients.",
                self.traffic.bytes_in.load(Ordering::Relaxed),
            ),
            (
                "semel_bytes_out_total",
                "Bytes written to clients.",
                self.traffic.bytes_out.load(Ordering::Relaxed),
            ),
            (
                "semel_group_rebalances_total",
                "Completed consumer-group rebalances.",
                self.rebalances.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        out.push_str(
            "# HELP semel_fsync_seconds Log fsync latency.\n# TYPE semel_fsync_seconds histogram\n",
        );
        self.fsyncs.render(&mut out, "semel_fsync_seconds", "");
        let _ = writeln!(
            out,
            "# HELP semel_connections Open client connections.\n# TYPE semel_connections gauge\nsemel_connections {}",
            self.connections.load(Ordering::Relaxed)
        );
        out
    }
}

/// Serves `GET /metrics` (any path, in fact) until `shutdown` turns true.
///
/// # Errors
/// Never after binding; a failed scrape connection is dropped.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut stream, _)) = accepted else { continue };
                let metrics = Arc::clone(&metrics);
                tokio::spawn(async move {
                    // Read (and ignore) the request head; bounded in size and time.
                    let mut head = [0u8; 4096];
                    let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut head)).await;
                    let body = metrics.render();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// The address a metrics listener is bound to, for logs.
pub fn describe(addr: Option<SocketAddr>) -> String {
    addr.map_or_else(|| "off".to_owned(), |a| format!("http://{a}/metrics"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_count_everything() {
        let metrics = Metrics::new(["Produce"]);
        let produce = metrics.api("Produce").unwrap();
        produce.requests.fetch_add(2, Ordering::Relaxed);
        produce.latency.observe(Duration::from_micros(50));
        produce.latency.observe(Duration::from_secs(5));
        let text = metrics.render();
        assert!(
            text.contains("semel_requests_total{api=\"Produce\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("semel_request_latency_seconds_bucket{api=\"Produce\",le=\"0.0001\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("semel_request_latency_seconds_bucket{api=\"Produce\",le=\"1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("semel_request_latency_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("semel_request_latency_seconds_count{api=\"Produce\"} 2"),
            "{text}"
        );
        assert!(metrics.api("Nope").is_none());
    }
}
