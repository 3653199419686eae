//! Cold-start permits: how many workers this node starts at once, and which start goes first.
//!
//! A start is CPU-bound (bubblewrap, the interpreter, the function's import), so a few per
//! core run at once ([`cold_start_permits`]) and the others wait for a permit. A start of the
//! *first* worker of a function version's pool (the pool has none, up or starting, when the
//! start's slot is taken) goes ahead of a start of one *more* worker for a pool that already
//! has one: the first worker serves every call queued for its function, where one more only
//! shortens a queue that a worker already serves. In a burst over many new functions, more
//! workers started for the functions that got theirs first would take the CPU that the others'
//! first workers need. So while any first start waits, a start of one more does not wait in
//! the permits' queue (it steps out of it when a first start comes, and queues again once none
//! waits), and a throttled pool does not grow ([`ColdStarts::try_acquire_more`]).
//!
//! One more yields to first starts for at most [`MORE_YIELDS_FOR`], and then queues like any
//! start: a node that starts workers for new functions without pause (a tenant creating
//! functions to that end) delays another function's growth by that long, not for ever;
//! meanwhile that function's calls are served by the worker its pool has. So a first start
//! waits for the permits in use, the first starts queued before it, and the starts of more
//! workers that had yielded that long before it came.
//!
//! Whether a start is a first is decided when its slot is taken: a pool whose only worker
//! ends (evicted, failed) while a start of one more waits leaves that start yielding, for at
//! most [`MORE_YIELDS_FOR`].
//!
//! While a start waits for its permit, a worker given back to its pool serves the execution
//! instead, and the start is not made ([`ColdStarts::turn`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, SemaphorePermit};

use crate::pool::{Lease, Pool};

/// Four cold starts per core. A cold start is CPU-bound (bubblewrap, the interpreter, the
/// import): started by the hundred at once, as a burst of new executions does, every one of
/// them ends late and many pass their function's timeout, while a few per core keep the cores
/// busy and each start short. The others wait in the queue, where the wait is not part of the
/// function's timeout.
pub(crate) fn cold_start_permits() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get) * 4
}

/// Longest a start of one more worker yields to first starts; then it queues for a permit
/// like any start, in its turn. Several times a cold start's CPU, and the time the start
/// phase of a burst of 1,000 executions over 100 new functions takes on 2 cores
/// (docs/benchmarks.md).
pub(crate) const MORE_YIELDS_FOR: Duration = Duration::from_secs(1);

/// Which pool a start is for (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartFor {
    /// A pool that has no worker, up or starting.
    First,
    /// A pool that has at least one.
    More,
}

impl StartFor {
    /// What a start into `lease`'s slot is for.
    pub fn lease(lease: &Lease) -> Self {
        if lease.first_of_pool() {
            Self::First
        } else {
            Self::More
        }
    }
}

/// What a cold start's wait for its turn came to.
pub(crate) enum Turn<'a> {
    /// Start the worker, holding this permit.
    Start(SemaphorePermit<'a>),
    /// A worker of the pool was given back meanwhile: it serves instead, and the start is not
    /// made.
    Reuse(Lease),
}

/// The node's cold-start permits, first workers ahead.
pub(crate) struct ColdStarts {
    permits: Semaphore,
    /// First starts waiting for a permit.
    firsts_waiting: AtomicUsize,
    /// Notified (all waiters) when `firsts_waiting` falls to zero.
    no_first_waits: Notify,
    /// Notified (all waiters) when a first start begins to wait.
    first_waits: Notify,
}

impl ColdStarts {
    pub fn new(permits: usize) -> Self {
        Self {
            permits: Semaphore::new(permits),
            firsts_waiting: AtomicUsize::new(0),
            no_first_waits: Notify::new(),
            first_waits: Notify::new(),
        }
    }

    /// Waits for the turn of a start into a slot of `pool`: a permit, or a worker of `pool`
    /// given back before it comes (an execution that waited its turn is not held for a start
    /// its own pool's worker makes needless).
    pub async fn turn(&self, pool: &Arc<Pool>, start: StartFor) -> Turn<'_> {
        let permit = self.acquire(start);
        tokio::pin!(permit);
        loop {
            let back = pool.returned().notified();
            tokio::pin!(back);
            // Registered before the look: a worker given back after it still wakes this wait.
            // A notification this wait takes and does not use is passed on when `back` is
            // dropped (tokio's `Notified`), so no other waiter of the pool misses it.
            back.as_mut().enable();
            if let Some(idle) = pool.try_reuse() {
                return Turn::Reuse(idle);
            }
            tokio::select! {
                permit = &mut permit => {
                    return match pool.try_reuse() {
                        Some(idle) => Turn::Reuse(idle),
                        None => Turn::Start(permit),
                    };
                }
                () = &mut back => {}
            }
        }
    }

    /// Waits for a permit: a start of one more worker, until no first start waits.
    pub async fn acquire(&self, start: StartFor) -> SemaphorePermit<'_> {
        let permit = match start {
            StartFor::First => {
                let _waiting = FirstWaiting::new(self);
                self.permits.acquire().await
            }
            StartFor::More => {
                // Yield to first starts for a while, then queue like any start: a stream of
                // new functions (one tenant's, say) never holds another's growth for long.
                let yielded = tokio::time::timeout(MORE_YIELDS_FOR, self.acquire_more()).await;
                match yielded {
                    Ok(permit) => return permit,
                    Err(_) => self.permits.acquire().await,
                }
            }
        };
        permit.expect("the cold-start semaphore is never closed")
    }

    /// A permit for one more worker: waits in the permits' queue only while no first start
    /// waits, and steps out of it when one comes.
    async fn acquire_more(&self) -> SemaphorePermit<'_> {
        loop {
            self.until_no_first_waits().await;
            let first_comes = self.first_waits.notified();
            tokio::pin!(first_comes);
            first_comes.as_mut().enable();
            if self.firsts_waiting.load(Ordering::SeqCst) > 0 {
                continue;
            }
            tokio::select! {
                permit = self.permits.acquire() => {
                    let permit = permit.expect("the cold-start semaphore is never closed");
                    if self.firsts_waiting.load(Ordering::SeqCst) == 0 {
                        return permit;
                    }
                    // A first start came as this one got the permit: it goes to that one,
                    // queued behind.
                }
                () = &mut first_comes => {}
            }
        }
    }

    /// A permit for one more worker if one is free and no first start waits for it.
    pub fn try_acquire_more(&self) -> Option<SemaphorePermit<'_>> {
        if self.firsts_waiting.load(Ordering::SeqCst) > 0 {
            return None;
        }
        self.permits.try_acquire().ok()
    }

    async fn until_no_first_waits(&self) {
        loop {
            let notified = self.no_first_waits.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a fall to zero after the read still wakes
            // this waiter.
            notified.as_mut().enable();
            if self.firsts_waiting.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One first start in [`ColdStarts::firsts_waiting`] until it has its permit or gave up (its
/// execution's task was dropped).
struct FirstWaiting<'a>(&'a ColdStarts);

impl<'a> FirstWaiting<'a> {
    fn new(starts: &'a ColdStarts) -> Self {
        starts.firsts_waiting.fetch_add(1, Ordering::SeqCst);
        starts.first_waits.notify_waiters();
        Self(starts)
    }
}

impl Drop for FirstWaiting<'_> {
    fn drop(&mut self) {
        if self.0.firsts_waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.no_first_waits.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;

    /// Lets spawned tasks run until they wait.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    /// Starts a task that takes a permit for `start`, sends `name` once it has it and lets
    /// the permit go.
    fn taker(
        starts: &Arc<ColdStarts>,
        start: StartFor,
        name: &'static str,
        order: &mpsc::UnboundedSender<&'static str>,
    ) -> tokio::task::JoinHandle<()> {
        let (starts, order) = (starts.clone(), order.clone());
        tokio::spawn(async move {
            let _permit = starts.acquire(start).await;
            order.send(name).expect("the test holds the receiver");
        })
    }

    /// The names sent so far, in their order.
    fn sent(order: &mut mpsc::UnboundedReceiver<&'static str>) -> Vec<&'static str> {
        std::iter::from_fn(|| order.try_recv().ok()).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_start_goes_ahead_of_more_workers_queued_before_it() {
        let starts = Arc::new(ColdStarts::new(1));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let held = starts.acquire(StartFor::First).await;
        let more = taker(&starts, StartFor::More, "more", &tx);
        settle().await;
        let first = taker(&starts, StartFor::First, "first", &tx);
        settle().await;
        drop(held);
        first.await.expect("the first start's task");
        more.await.expect("the other start's task");
        assert_eq!(sent(&mut rx), ["first", "more"]);
    }

    #[tokio::test]
    async fn more_workers_take_free_permits_when_no_first_start_waits() {
        let starts = ColdStarts::new(2);
        let a = starts.acquire(StartFor::More).await;
        let b = starts.try_acquire_more().expect("a free permit");
        assert!(starts.try_acquire_more().is_none(), "both permits in use");
        drop((a, b));
        assert!(starts.try_acquire_more().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn one_more_yields_to_a_stream_of_first_starts_for_a_bounded_time() {
        const HOLD: Duration = Duration::from_millis(60);
        let starts = Arc::new(ColdStarts::new(1));
        let (tx, mut rx) = mpsc::unbounded_channel();
        // First starts, each holding the permit 60 ms: three at once, then one every 50 ms
        // for 3 s, so that one always waits.
        let first = |starts: &Arc<ColdStarts>| {
            let starts = starts.clone();
            tokio::spawn(async move {
                let _permit = starts.acquire(StartFor::First).await;
                tokio::time::sleep(HOLD).await;
            })
        };
        let mut firsts: Vec<_> = (0..3).map(|_| first(&starts)).collect();
        settle().await;
        let asked = tokio::time::Instant::now();
        let more = taker(&starts, StartFor::More, "more", &tx);
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            firsts.push(first(&starts));
            if !sent(&mut rx).is_empty() {
                break;
            }
        }
        let waited = asked.elapsed();
        more.await.expect("the other start's task");
        assert!(
            waited >= MORE_YIELDS_FOR && waited <= MORE_YIELDS_FOR + 10 * HOLD,
            "one more got its permit after {waited:?} while first starts kept coming"
        );
        for first in firsts {
            first.abort();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_start_given_up_does_not_hold_back_the_others() {
        let starts = Arc::new(ColdStarts::new(1));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let held = starts.acquire(StartFor::More).await;
        let first = taker(&starts, StartFor::First, "first", &tx);
        settle().await;
        let more = taker(&starts, StartFor::More, "more", &tx);
        settle().await;
        first.abort();
        assert!(first.await.expect_err("aborted").is_cancelled());
        drop(held);
        // Well before one more would stop yielding: the first start's count went with it.
        tokio::time::timeout(MORE_YIELDS_FOR / 2, more)
            .await
            .expect("one more starts once the only first start waiting is gone")
            .expect("the other start's task");
        assert_eq!(sent(&mut rx), ["more"]);
    }
}
