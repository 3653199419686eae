//! The time a decision is taken at, injected: [`SystemClock`] in the server, [`ManualClock`] in
//! tests, which move it instead of sleeping. Whoever decides something by the time (is this
//! token expired? is this cached answer still good?) asks a `Clock` it was given, not the
//! system.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::SubsecRound;

use crate::Timestamp;

pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The wall-clock time, truncated to whole microseconds as [`crate::time::now`] is.
    fn now(&self) -> Timestamp;

    /// A monotonic instant, for durations and deadlines that never leave this process.
    fn instant(&self) -> Instant;
}

/// The host's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        crate::time::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until it is moved with [`ManualClock::advance`]: both readings
/// move together, by exactly what was asked.
#[derive(Debug)]
pub struct ManualClock {
    start_wall: Timestamp,
    start_instant: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn at(start: Timestamp) -> Self {
        Self {
            start_wall: start.trunc_subsecs(6),
            start_instant: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// A clock showing the current time, then standing still.
    pub fn starting_now() -> Self {
        Self::at(crate::time::now())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        *self.lock() += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Duration> {
        self.elapsed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let elapsed = *self.lock();
        let elapsed =
            chrono::Duration::from_std(elapsed).expect("a test clock moves by less than 292 years");
        (self.start_wall + elapsed).trunc_subsecs(6)
    }

    fn instant(&self) -> Instant {
        self.start_instant + *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_both_readings_together() {
        let start = chrono::Utc
            .with_ymd_and_hms(2030, 1, 31, 12, 0, 0)
            .single()
            .expect("valid date");
        let clock = ManualClock::at(start);
        let (wall, mono) = (clock.now(), clock.instant());
        assert_eq!(wall, start);
        assert_eq!((clock.now(), clock.instant()), (wall, mono), "stands still");
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), start + chrono::Duration::milliseconds(1500));
        assert_eq!(clock.instant() - mono, Duration::from_millis(1500));
    }

    #[test]
    fn a_manual_clock_never_goes_back() {
        let clock = ManualClock::starting_now();
        let mut last = (clock.now(), clock.instant());
        for step in [0, 1, 999, 1_000_000, 0, 3_600_000_000] {
            clock.advance(Duration::from_micros(step));
            let read = (clock.now(), clock.instant());
            assert!(
                read.0 >= last.0 && read.1 >= last.1,
                "moved back by {step} µs"
            );
            assert_eq!(read.1 - last.1, Duration::from_micros(step));
            last = read;
        }
    }

    #[test]
    fn the_system_clock_reads_whole_microseconds() {
        let now = SystemClock.now();
        assert_eq!(now, now.trunc_subsecs(6));
        assert!(SystemClock.instant() <= Instant::now());
    }
}
