//! Whether a worker was held at its CPU quota while serving calls that more workers could
//! share: [`ThrottleWatch`] reads the cgroup's count of throttled CFS periods at most every
//! [`CHECK_EVERY`], so that a worker serving thousands of calls a second costs the server a few
//! file reads a second, not one per call.

use std::time::{Duration, Instant};

/// How often a busy worker's `cpu.stat` is read. Shorter than the 100 ms CFS period, so a
/// worker throttled in one period is seen before the next one ends.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(50);

/// Fewest calls between two reads for a throttled worker to count. A function that uses more
/// than its quota in a single call (one slow call at a time) gains nothing from more workers:
/// each call is throttled wherever it runs. Several calls between two reads are calls that
/// other workers could have served in the same period.
pub(crate) const MIN_CALLS: u32 = 2;

#[derive(Debug, Default)]
pub(crate) struct ThrottleWatch {
    checked: Option<Instant>,
    periods: Option<u64>,
    calls: u32,
}

impl ThrottleWatch {
    /// Called after each call: whether the count `read` gives grew since the last read, with
    /// at least [`MIN_CALLS`] calls served since then. False between reads, when the count
    /// cannot be read, and at the first read (there is nothing to compare with: that is the
    /// count the worker's start-up left).
    pub(crate) fn after_call(&mut self, now: Instant, read: impl FnOnce() -> Option<u64>) -> bool {
        self.calls = self.calls.saturating_add(1);
        if self
            .checked
            .is_some_and(|at| now.saturating_duration_since(at) < CHECK_EVERY)
        {
            return false;
        }
        self.checked = Some(now);
        let calls = std::mem::take(&mut self.calls);
        let Some(periods) = read() else {
            return false;
        };
        let grew = self.periods.is_some_and(|before| periods > before);
        self.periods = Some(periods);
        grew && calls >= MIN_CALLS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_growth_since_the_last_read_counts_and_reads_are_spaced() {
        let mut watch = ThrottleWatch::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert!(
            !watch.after_call(t0, || Some(5)),
            "the first read sets the baseline"
        );
        assert!(
            !watch.after_call(t0 + ms(10), || panic!("read too soon")),
            "within CHECK_EVERY nothing is read"
        );
        assert!(
            watch.after_call(t0 + CHECK_EVERY, || Some(6)),
            "one more period"
        );
        watch.after_call(t0 + CHECK_EVERY + ms(1), || None);
        assert!(
            !watch.after_call(t0 + 2 * CHECK_EVERY, || Some(6)),
            "no more since"
        );
        watch.after_call(t0 + 2 * CHECK_EVERY + ms(1), || None);
        assert!(
            !watch.after_call(t0 + 3 * CHECK_EVERY, || None),
            "an unreadable count says nothing"
        );
        watch.after_call(t0 + 3 * CHECK_EVERY + ms(1), || None);
        assert!(
            watch.after_call(t0 + 4 * CHECK_EVERY, || Some(9)),
            "compared with the last count read"
        );
    }

    #[test]
    fn one_slow_call_at_a_time_is_not_worth_another_worker() {
        let mut watch = ThrottleWatch::default();
        let t0 = Instant::now();
        watch.after_call(t0, || Some(0));
        // Each call used several periods' quota: throttled, but alone between two reads.
        for i in 1..5u32 {
            let at = t0 + Duration::from_millis(400) * i;
            assert!(!watch.after_call(at, || Some(u64::from(i) * 4)));
        }
    }
}
