//! The pool mechanism with stand-in workers: limits, the memory budget, scale-down and
//! retirement, waiting behind starting and busy workers, and throttled workers.

use std::time::Duration;

use ridge_core::{Entry, Limits, RuntimeId};

use super::*;
use crate::testing::Named;

fn pool(max_workers: usize, budget: u64) -> Arc<Pool> {
    pool_on(max_workers, budget, Arc::new(ridge_core::SystemClock))
}

fn pool_on(max_workers: usize, budget: u64, clock: Arc<dyn Clock>) -> Arc<Pool> {
    Pool::new(
        RuntimeId::new(),
        RunShape {
            md5sum: "x".into(),
            entry: Entry::default_entry(),
            limits: Limits {
                cpu: 100,
                memory_size: 10,
                timeout: 5,
            },
            network: ridge_core::NetworkAccess::Loopback,
        },
        ScalingPolicy {
            max_workers,
            idle_expiry: Duration::from_secs(60),
            ..ScalingPolicy::default()
        },
        Arc::new(Capacity::new(budget)),
        clock,
        ScalingPolicy::default().fixed_window(crate::policy::Basis::Fixed),
    )
}

async fn started(pool: &Arc<Pool>, name: &str) -> Lease {
    let mut lease = pool.acquire().await.expect("capacity");
    assert!(!lease.is_warm());
    lease.set_worker(Box::new(Named(name.into())));
    lease
}

#[tokio::test]
async fn starts_up_to_the_limit_then_waits_for_a_returned_worker() {
    let p = pool(2, 1000);
    let a = started(&p, "a").await;
    let _b = started(&p, "b").await;
    assert_eq!(p.counts(), (2, 0));
    let waiter = tokio::spawn({
        let p = p.clone();
        async move {
            let lease = p.acquire().await.expect("capacity");
            let warm = lease.is_warm();
            assert!(lease.give_back().await.is_none(), "not throttled");
            warm
        }
    });
    tokio::task::yield_now().await;
    assert!(
        !waiter.is_finished(),
        "a third execution waits at the limit"
    );
    assert!(a.give_back().await.is_none(), "not throttled");
    assert!(
        waiter.await.expect("joined"),
        "it gets the returned warm worker"
    );
    assert_eq!(p.worker_names(), vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(p.counts(), (2, 1));
}

#[tokio::test]
async fn the_memory_budget_stops_starts_and_is_given_back() {
    let p = pool(5, 25);
    let a = started(&p, "a").await;
    let _b = started(&p, "b").await;
    assert!(
        matches!(p.acquire().await, Err(NoCapacity)),
        "a third 10-byte worker does not fit in 25"
    );
    a.discard().await;
    assert!(p.acquire().await.is_ok(), "discarding gave the memory back");
}

#[tokio::test]
async fn scale_down_keeps_one_and_retire_stops_what_comes_back() {
    let p = pool(5, 1000);
    let leases = [
        started(&p, "a").await,
        started(&p, "b").await,
        started(&p, "c").await,
    ];
    for lease in leases {
        assert!(lease.give_back().await.is_none(), "not throttled");
    }
    assert_eq!(p.counts(), (3, 3));
    assert_eq!(p.scale_down(10).len(), 2);
    assert_eq!(p.counts(), (1, 1));
    let busy = p.acquire().await.expect("warm");
    assert!(busy.is_warm());
    assert!(p.retire().is_empty(), "the only worker is busy");
    assert!(busy.give_back().await.is_none(), "not throttled");
    assert_eq!(
        p.counts(),
        (0, 0),
        "a retired pool stops workers handed back"
    );
    assert!(p.worker_names().is_empty());
    assert!(p.try_start().is_none(), "a retired pool starts nothing");
}

/// A stand-in worker that says, after each call, whether its quota held it back.
struct Held(String, bool);

#[async_trait::async_trait]
impl Worker for Held {
    fn name(&self) -> &str {
        &self.0
    }

    fn pid(&self) -> Option<u32> {
        None
    }

    async fn invoke(
        &mut self,
        _: &ridge_runtime::Invocation,
    ) -> Result<ridge_runtime::InvocationOutcome, ridge_runtime::WorkerError> {
        unreachable!("pools do not call workers")
    }

    async fn kill(&mut self) {}

    fn throttled(&mut self) -> bool {
        self.1
    }
}

/// One call on the worker the pool hands out next, given back with `throttled`: that
/// worker's name, and whether the pool asked for one more.
async fn call(pool: &Arc<Pool>, throttled: bool) -> (String, bool) {
    let mut lease = pool.acquire().await.expect("warm");
    let name = lease.worker().expect("warm").name().to_owned();
    lease.set_worker(Box::new(Held(name.clone(), throttled)));
    (name, lease.give_back().await.is_some())
}

#[tokio::test]
async fn a_throttled_worker_spreads_the_calls_and_asks_for_one_more_at_a_time() {
    let clock = Arc::new(ridge_core::ManualClock::starting_now());
    let tick = || clock.advance(Duration::from_millis(1));
    let p = pool_on(3, 1000, clock.clone());
    let (a, b) = (started(&p, "a").await, started(&p, "b").await);
    assert!(
        a.give_back().await.is_none(),
        "not throttled: nothing to grow for"
    );
    tick();
    assert!(b.give_back().await.is_none());
    for _ in 0..3 {
        tick();
        assert_eq!(
            call(&p, false).await,
            ("b".into(), false),
            "most recent first"
        );
    }

    tick();
    assert_eq!(
        call(&p, true).await,
        ("b".into(), true),
        "throttled: one more"
    );
    // Spreading: the least recently used first, so each worker gets its share of calls.
    for expected in ["a", "b", "a"] {
        tick();
        assert_eq!(call(&p, false).await.0, expected);
    }
    tick();
    assert!(!call(&p, true).await.1, "at most one more every GROW_EVERY");

    // The worker asked for arrives: the pool is at its limit of 3.
    let busy = [p.acquire().await, p.acquire().await];
    let c = started(&p, "c").await;
    for lease in busy.into_iter().chain([Ok(c)]) {
        assert!(
            lease.expect("warm").give_back().await.is_none(),
            "not throttled"
        );
    }
    assert_eq!(p.counts(), (3, 3));
    clock.advance(GROW_EVERY);
    assert!(!call(&p, true).await.1, "at max_workers, no more");

    clock.advance(SPREAD_FOR);
    let (last, _) = call(&p, false).await;
    tick();
    assert_eq!(call(&p, false).await.0, last, "most recent first again");
    let mut busy = p.acquire().await.expect("warm");
    assert_eq!(p.retire().len(), 2, "the other two, idle");
    busy.set_worker(Box::new(Held("x".into(), true)));
    assert!(
        busy.give_back().await.is_none(),
        "a retired pool wants nothing"
    );
}

/// On the test's single thread, a spawned waiter runs only while the test awaits.
#[tokio::test]
async fn executions_wait_behind_a_starting_worker_and_for_a_busy_one_as_long_as_a_start_takes() {
    let p = pool(3, 1000);
    let acquire = || {
        let p = p.clone();
        tokio::spawn(async move { p.acquire().await.expect("capacity") })
    };
    let mut a = p.acquire().await.expect("capacity");
    let waiter = acquire();
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.set_worker(Box::new(Named("a".into())));
    assert!(a.give_back().await.is_none(), "not throttled");
    let lease = waiter.await.expect("joined");
    assert!(
        lease.is_warm(),
        "behind a starting worker it waited for that worker"
    );
    assert_eq!(p.counts(), (1, 0), "and none other was started");

    // The worker stays busy past the patience (about its 20 ms start): one starts.
    let started = acquire().await.expect("joined");
    assert!(!started.is_warm());
    assert_eq!(p.counts(), (2, 0));
    drop((lease, started));
    assert_eq!(p.counts(), (0, 0), "the start given up is counted out");
    assert!(
        p.acquire().await.is_ok_and(|l| !l.is_warm()),
        "none left: start"
    );
}

#[tokio::test]
async fn a_dropped_lease_frees_its_slot() {
    let p = pool(1, 1000);
    drop(started(&p, "a").await);
    assert_eq!(p.counts(), (0, 0));
    assert!(p.worker_names().is_empty());
    assert!(p.acquire().await.is_ok());
}

#[tokio::test]
async fn a_start_given_up_lets_the_executions_behind_it_start_and_counts_out() {
    let p = pool(3, 1000);
    let a = p.acquire().await.expect("capacity");
    let waiter = {
        let p = p.clone();
        tokio::spawn(async move { p.acquire().await.expect("capacity") })
    };
    tokio::task::yield_now().await;
    a.discard().await;
    let mut b = waiter.await.expect("joined");
    assert!(
        !b.is_warm(),
        "the failed start's slot went to the one behind it"
    );
    assert_eq!(p.counts(), (1, 0));
    // With `b` up and busy, one more execution waits only its short patience: had the
    // failed start stayed counted, it would wait behind it as behind a start (10 s).
    b.set_worker(Box::new(Named("b".into())));
    let began = std::time::Instant::now();
    let c = p.acquire().await.expect("capacity");
    assert!(!c.is_warm());
    assert!(
        began.elapsed() < crate::policy::STARTING_PATIENCE / 2,
        "{:?}",
        began.elapsed()
    );
    assert_eq!(p.counts(), (2, 0));
}

#[tokio::test]
async fn only_a_start_into_a_pool_without_workers_is_its_first() {
    let p = pool(3, 1000);
    let a = p.acquire().await.expect("capacity");
    assert!(a.first_of_pool(), "the pool had no worker");
    // A worker starting counts: the next start is one more (after its patience).
    let b = p.try_start().expect("a slot");
    assert!(!b.first_of_pool(), "a worker is starting");
    drop((a, b));
    let c = p.try_start().expect("a slot");
    assert!(c.first_of_pool(), "both starts were given up: none again");
    let mut c = c;
    c.set_worker(Box::new(Named("c".into())));
    assert!(c.give_back().await.is_none(), "not throttled");
    let d = p.try_start().expect("a slot");
    assert!(!d.first_of_pool(), "an idle worker is a worker");
    let warm = p.acquire().await.expect("capacity");
    assert!(warm.is_warm() && !warm.first_of_pool());
}

#[tokio::test(start_paused = true)]
async fn a_start_waiting_for_its_turn_takes_a_worker_given_back_meanwhile() {
    use crate::coldstarts::{ColdStarts, StartFor, Turn};
    let p = pool(2, 1000);
    let busy = started(&p, "a").await;
    let more = p.try_start().expect("a slot");
    let starts = ColdStarts::new(1);
    let held = starts.acquire(StartFor::First).await;
    let reused = {
        let turn = starts.turn(&p, StartFor::lease(&more));
        tokio::pin!(turn);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut turn)
                .await
                .is_err(),
            "no permit and no idle worker yet"
        );
        assert!(busy.give_back().await.is_none(), "not throttled");
        let turn = tokio::time::timeout(Duration::from_secs(1), turn).await;
        match turn.expect("the turn ends when the worker is given back, permit or not") {
            Turn::Reuse(lease) => lease,
            Turn::Start(_) => panic!("a start made while its pool's worker was idle"),
        }
    };
    assert!(reused.is_warm(), "the worker given back");
    drop(more);
    assert_eq!(
        p.counts(),
        (1, 0),
        "the start's slot is free, the worker lent"
    );
    drop(held);
    let another = p.try_start().expect("a slot");
    assert!(
        matches!(
            starts.turn(&p, StartFor::lease(&another)).await,
            Turn::Start(_)
        ),
        "no idle worker: the start is made once a permit is free"
    );
    assert!(reused.give_back().await.is_none(), "not throttled");
}
