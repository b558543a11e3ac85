//! The timer loop shared by the group and transaction coordinators: their state machines say
//! when their next deadline is, and this task calls them back once it has passed.

use std::sync::Weak;
use std::time::Duration;
use tokio::sync::Notify;

/// Longest sleep between two looks at the deadline (a later-added earlier deadline also wakes
/// the loop through `wake`).
const MAX_SLEEP_MS: i64 = 1_000;

/// Sleeps until `next_deadline(owner)` (at most a second, or until `wake(owner)` is notified),
/// then calls `fire_due(owner, now_ms)`, which checks the deadline again under its own lock.
/// Ends once the owner is dropped.
pub(crate) async fn run<T>(
    owner: Weak<T>,
    wake: impl Fn(&T) -> &Notify,
    next_deadline: impl Fn(&T) -> Option<i64>,
    fire_due: impl Fn(&T, i64),
) {
    loop {
        let Some(this) = owner.upgrade() else { return };
        let now = crate::now_ms();
        let wait_ms = next_deadline(&this).map_or(MAX_SLEEP_MS, |deadline| {
            (deadline - now).clamp(0, MAX_SLEEP_MS)
        });
        if wait_ms > 0 {
            let woken = wake(&this).notified();
            let sleep = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
            let _ = tokio::time::timeout(sleep, woken).await;
        }
        fire_due(&this, crate::now_ms());
    }
}
