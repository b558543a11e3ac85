//! Group commit: one flush serves every `acks=all` produce waiting on the same partition.
//!
//! A produce appends, then hands its partition to the flusher thread and waits for the
//! partition's high watermark to pass its batch. The flusher takes every partition queued since
//! its last round, flushes each once and advances its high watermark, waking every waiter the
//! flush covers. fsync blocks, so it runs on its own thread, never on the async runtime.

use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::partition::Partition;
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tracing::error;

/// Handle to the flusher thread.
#[derive(Debug)]
pub struct Flusher {
    queue: mpsc::Sender<Arc<Partition>>,
}

impl Flusher {
    /// Starts the flusher thread. It stops when the handle is dropped.
    pub fn start(metrics: Arc<Metrics>) -> Self {
        let (queue, rx) = mpsc::channel::<Arc<Partition>>();
        let spawned = std::thread::Builder::new()
            .name("semel-flusher".into())
            .spawn(move || run(rx, metrics));
        if let Err(e) = spawned {
            // Without the thread acks=all produces time out with REQUEST_TIMED_OUT: loud, not lost.
            error!(error = %e, "cannot start the flusher thread");
        }
        Self { queue }
    }

    /// Asks for `partition` to be flushed soon.
    pub fn request(&self, partition: &Arc<Partition>) {
        let _ = self.queue.send(Arc::clone(partition));
    }

    /// With `--flush interval:MS`: a thread that flushes every partition every `ms`.
    pub fn start_interval(broker: Weak<Broker>, ms: u64) {
        let _ = std::thread::Builder::new()
            .name("semel-interval-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(ms));
                    let Some(broker) = broker.upgrade() else {
                        return;
                    };
                    for topic in broker.store.all() {
                        for partition in &topic.partitions {
                            let started = Instant::now();
                            if let Err(e) = partition.sync() {
                                error!(topic = %topic.name, error = %e, "interval flush failed");
                            }
                            broker.metrics.fsyncs.observe(started.elapsed());
                            partition.trim_cache();
                        }
                    }
                }
            });
    }
}

/// A thread that, every `every`, deletes segments past retention and forgets idle producers.
pub fn start_housekeeping(broker: Weak<Broker>, every: Duration) {
    let _ = std::thread::Builder::new()
        .name("semel-housekeeping".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                let Some(broker) = broker.upgrade() else {
                    return;
                };
                let now_ms = crate::now_ms();
                broker.groups.expire_offsets(now_ms);
                for topic in broker.store.all() {
                    for partition in &topic.partitions {
                        if let Err(e) = partition.housekeeping(now_ms) {
                            error!(topic = %topic.name, error = %e, "retention failed");
                        }
                    }
                }
            }
        });
}

fn run(rx: mpsc::Receiver<Arc<Partition>>, metrics: Arc<Metrics>) {
    while let Ok(first) = rx.recv() {
        // Everything queued meanwhile shares this round: one flush per partition.
        let mut round = vec![first];
        while let Ok(more) = rx.try_recv() {
            if !round.iter().any(|p| Arc::ptr_eq(p, &more)) {
                round.push(more);
            }
        }
        for partition in &round {
            let started = Instant::now();
            if let Err(e) = partition.sync() {
                // The log is now poisoned: its high watermark stops, waiters time out, nothing
                // unflushed is ever acknowledged.
                error!(error = %e, "flush failed; the partition refuses writes until restart");
            }
            metrics.fsyncs.observe(started.elapsed());
        }
        // Off the latency path: every waiter of this round was woken above.
        for partition in &round {
            partition.trim_cache();
        }
    }
}
