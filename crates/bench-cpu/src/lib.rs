//! [`ThreadCpuTime`]: a criterion [`Measurement`] of the benchmark thread's own CPU time,
//! read from `/proc/thread-self/schedstat`. It stays meaningful on a shared, overloaded
//! machine, where the thread is runnable but not running much of the time and wall-clock
//! figures swing with the neighbours.
//!
//! ```ignore
//! criterion_group! {
//!     name = cpu;
//!     config = Criterion::default().with_measurement(semel_bench_cpu::ThreadCpuTime);
//!     targets = my_bench
//! }
//! ```

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// CPU time of the calling thread, in nanoseconds (wall-clock time if the kernel does not
/// expose it).
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            static START: OnceLock<Instant> = OnceLock::new();
            u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
}

/// The benchmark thread's CPU time, formatted like wall time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadCpuTime;

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }

    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}
