//! Scaling policy: small questions with small answers, apart from the pool mechanism so they
//! can be tested without processes.
//!
//! How long an idle worker stays ([`ScalingPolicy::window`]): with [`KeepAlive::Fixed`], the
//! fixed `idle_expiry` (Qinling's `function_service_expiration`). With [`KeepAlive::Adaptive`],
//! the hybrid histogram policy of "Serverless in the Wild" (Shahrad et al., ATC '20) over the
//! function's [`ArrivalHistogram`]: once it is representative (at least [`MIN_SAMPLES`] times,
//! at most [`MAX_OUT_OF_BOUNDS`] of them past the histogram, and the bucket counts' coefficient
//! of variation at least [`MIN_CV`], so the times gather in a few buckets), the pre-warm time
//! is the 5th percentile less 10% and the keep-alive window ends at the 99th percentile plus
//! 10%. A positive pre-warm releases the worker right after each execution and starts one
//! again `prewarm` after the last call, kept for `keep_alive`; a zero pre-warm keeps the worker
//! `keep_alive` after the call. Otherwise the fixed expiry applies.
//!
//! [`KeepAlive::Adaptive`] differs from the paper in one point, which [`KeepAlive::Histogram`]
//! leaves out: a window without a pre-warm keeps the worker at most the fixed expiry. A
//! function whose calls come in bursts has most of its inter-arrival times in the first
//! bucket and its 99th percentile in the long gaps between bursts; the paper's window keeps its
//! worker through those gaps, which `ridge-bench keepalive` measured at 8 times the idle memory
//! of the fixed expiry for such functions. Capped, the adaptive policy spends memory beyond the
//! fixed expiry only around a predicted call (a pre-warm).

use std::time::Duration;

use ridge_core::ArrivalHistogram;

/// What to do for an execution that wants a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// Take an idle warm worker.
    Reuse,
    /// Start a new worker (cold start).
    Start,
    /// Wait until a worker is returned (the pool is at its limit).
    Wait,
    /// Every worker of the pool is still starting, and will be up no later than one started
    /// now: wait for them, for at most [`STARTING_PATIENCE`] (a start that hangs until its load
    /// deadline does not hold the executions behind it that long), then start one.
    WaitForStarting,
    /// Wait for a busy worker to be returned, for at most about what a cold start takes, then
    /// start one: a worker that will be free sooner than a new one could start is not worth a
    /// new one (waiting as long as a start costs, then starting, is at most twice the best
    /// choice, whatever the calls' length).
    WaitThenStart,
}

/// Whether an idle worker should be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Keep,
    Release,
}

/// How the idle time of workers is chosen (`[keep_alive] policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeepAlive {
    /// Every worker is kept `idle_expiry` after its last call.
    Fixed,
    /// Learned per function from its inter-arrival times, the fixed expiry until then; a
    /// window without a pre-warm keeps the worker at most the fixed expiry.
    #[default]
    Adaptive,
    /// The paper's hybrid histogram policy as it is: learned windows are not capped.
    Histogram,
}

/// Longest an execution waits behind workers still starting before it starts one of its own.
pub const STARTING_PATIENCE: Duration = Duration::from_secs(10);

/// The fewest inter-arrival times before a histogram is used.
pub const MIN_SAMPLES: u64 = 10;
/// The lowest coefficient of variation of the bucket counts that shows a pattern (the paper's).
pub const MIN_CV: f64 = 2.0;
/// The largest share of inter-arrival times past the histogram for it to be used.
pub const MAX_OUT_OF_BOUNDS: f64 = 0.1;
/// Head and tail percentiles of the paper, and the margin taken off the one and added to the
/// other.
const HEAD: f64 = 0.05;
const TAIL: f64 = 0.99;
const MARGIN: f64 = 0.1;

/// Why a function's window is what it is (shown to operators).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// `[keep_alive] policy = "fixed"`.
    Fixed,
    /// Fewer than [`MIN_SAMPLES`] inter-arrival times so far: the fixed expiry.
    Learning,
    /// Too many inter-arrival times past the histogram: the fixed expiry.
    OutOfBounds,
    /// The times show no pattern (low coefficient of variation): the fixed expiry.
    NoPattern,
    /// From the histogram.
    Learned,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Fixed => "fixed",
            Basis::Learning => "learning",
            Basis::OutOfBounds => "out_of_bounds",
            Basis::NoPattern => "no_pattern",
            Basis::Learned => "learned",
        }
    }
}

/// How long a function's workers wait, after its last call: none before `prewarm` (when it is
/// not zero, the worker is released right after the call and one is started then), and one
/// for `keep_alive` from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub prewarm: Duration,
    pub keep_alive: Duration,
    pub basis: Basis,
}

impl Window {
    /// Whether a worker is released as soon as its execution ends (to be pre-warmed later).
    pub fn release_after_call(&self) -> bool {
        !self.prewarm.is_zero()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// Most workers one (function, version) may have at once.
    pub max_workers: usize,
    /// A worker idle longer than this is stopped (Qinling's `function_service_expiration`),
    /// unless the adaptive policy learned another window.
    pub idle_expiry: Duration,
    pub keep_alive: KeepAlive,
    /// Width of one bucket of the inter-arrival histogram (one minute in the paper).
    pub bucket: Duration,
}

impl Default for ScalingPolicy {
    fn default() -> Self {
        Self {
            max_workers: 10,
            idle_expiry: Duration::from_secs(300),
            keep_alive: KeepAlive::default(),
            bucket: Duration::from_secs(60),
        }
    }
}

impl ScalingPolicy {
    /// `idle` workers are free, `live` is every worker of the pool (idle, busy and starting),
    /// `starting` those not started yet. A pool with no worker starts one; while all its
    /// workers are starting, the executions behind them wait for them (a burst of short calls
    /// on a new function is served by the first worker rather than starting one each).
    pub fn acquire(&self, idle: usize, live: usize, starting: usize) -> Acquire {
        if idle > 0 {
            Acquire::Reuse
        } else if live >= self.max_workers {
            Acquire::Wait
        } else if live == 0 {
            Acquire::Start
        } else if starting >= live {
            Acquire::WaitForStarting
        } else {
            Acquire::WaitThenStart
        }
    }

    /// The window of a function without a usable history.
    pub fn fixed_window(&self, basis: Basis) -> Window {
        Window {
            prewarm: Duration::ZERO,
            keep_alive: self.idle_expiry,
            basis,
        }
    }

    /// The window for a function whose inter-arrival times are `history`.
    pub fn window(&self, history: &ArrivalHistogram) -> Window {
        if self.keep_alive == KeepAlive::Fixed {
            return self.fixed_window(Basis::Fixed);
        }
        let total = history.total();
        if total < MIN_SAMPLES {
            return self.fixed_window(Basis::Learning);
        }
        if history.out_of_bounds() as f64 > MAX_OUT_OF_BOUNDS * total as f64 {
            return self.fixed_window(Basis::OutOfBounds);
        }
        if history.bucket_cv() < MIN_CV {
            return self.fixed_window(Basis::NoPattern);
        }
        let (Some(head), Some(tail)) = (
            history.percentile_bucket(HEAD),
            history.percentile_bucket(TAIL),
        ) else {
            return self.fixed_window(Basis::Learning);
        };
        // The head bucket's start less the margin; the tail bucket's end plus the margin.
        let prewarm = self.bucket.mul_f64(f64::from(head) * (1.0 - MARGIN));
        let end = self.bucket.mul_f64(f64::from(tail + 1) * (1.0 + MARGIN));
        let mut keep_alive = end.saturating_sub(prewarm);
        if self.keep_alive == KeepAlive::Adaptive && prewarm.is_zero() {
            keep_alive = keep_alive.min(self.idle_expiry);
        }
        Window {
            prewarm,
            keep_alive,
            basis: Basis::Learned,
        }
    }

    /// Whether a worker idle for `idle_for` is kept, in `window` (idle time counts from the
    /// end of its last call, or from its pre-warm).
    pub fn keep_idle(&self, idle_for: Duration, window: &Window) -> Keep {
        if idle_for >= window.keep_alive {
            Keep::Release
        } else {
            Keep::Keep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_before_starting_and_waits_at_the_limit() {
        let p = ScalingPolicy {
            max_workers: 2,
            idle_expiry: Duration::from_secs(60),
            ..ScalingPolicy::default()
        };
        assert_eq!(p.acquire(1, 2, 0), Acquire::Reuse);
        assert_eq!(p.acquire(0, 0, 0), Acquire::Start, "none yet: start one");
        assert_eq!(
            p.acquire(0, 1, 1),
            Acquire::WaitForStarting,
            "the one starting serves the calls behind it first"
        );
        assert_eq!(
            p.acquire(0, 1, 0),
            Acquire::WaitThenStart,
            "busy: worth a start only if it stays busy"
        );
        assert_eq!(p.acquire(0, 2, 0), Acquire::Wait);
        assert_eq!(p.acquire(0, 2, 1), Acquire::Wait);
    }

    #[test]
    fn releases_after_the_idle_expiry() {
        let p = ScalingPolicy {
            max_workers: 2,
            idle_expiry: Duration::from_secs(60),
            ..ScalingPolicy::default()
        };
        let w = p.fixed_window(Basis::Fixed);
        assert_eq!(p.keep_idle(Duration::from_secs(59), &w), Keep::Keep);
        assert_eq!(p.keep_idle(Duration::from_secs(60), &w), Keep::Release);
    }

    fn adaptive() -> ScalingPolicy {
        ScalingPolicy {
            idle_expiry: Duration::from_secs(300),
            keep_alive: KeepAlive::Adaptive,
            bucket: Duration::from_secs(60),
            ..ScalingPolicy::default()
        }
    }

    fn history(buckets: &[(u16, u64)]) -> ArrivalHistogram {
        let mut h = ArrivalHistogram::default();
        for &(b, c) in buckets {
            h.add(b, c);
        }
        h
    }

    #[test]
    fn a_periodic_function_is_prewarmed_before_its_next_call_and_kept_past_it() {
        // Every 10 minutes, give or take a minute.
        let w = adaptive().window(&history(&[(9, 5), (10, 90), (11, 5)]));
        assert_eq!(w.basis, Basis::Learned);
        // Head: bucket 9 starts at 9 min, less 10%; tail: bucket 11 ends at 12 min, plus 10%.
        assert_eq!(w.prewarm, Duration::from_secs(486));
        assert_eq!(w.prewarm + w.keep_alive, Duration::from_secs(792));
        assert!(w.release_after_call());
    }

    #[test]
    fn a_function_called_within_the_first_bucket_is_kept_without_a_prewarm() {
        let w = adaptive().window(&history(&[(0, 80), (2, 20)]));
        assert_eq!(w.basis, Basis::Learned);
        assert_eq!(w.prewarm, Duration::ZERO);
        assert!(!w.release_after_call());
        assert_eq!(w.keep_alive, Duration::from_secs(198), "3 minutes plus 10%");
    }

    #[test]
    fn short_spread_or_unbounded_histories_fall_back_to_the_fixed_expiry() {
        let p = adaptive();
        let fixed = |basis| Window {
            prewarm: Duration::ZERO,
            keep_alive: Duration::from_secs(300),
            basis,
        };
        assert_eq!(p.window(&history(&[])), fixed(Basis::Learning));
        assert_eq!(p.window(&history(&[(10, 9)])), fixed(Basis::Learning));
        assert_eq!(
            p.window(&history(&[(10, 80), (240, 20)])),
            fixed(Basis::OutOfBounds)
        );
        let spread: Vec<_> = (0..240).map(|b| (b, 2)).collect();
        assert_eq!(p.window(&history(&spread)), fixed(Basis::NoPattern));
        let fixed_policy = ScalingPolicy {
            keep_alive: KeepAlive::Fixed,
            ..p
        };
        assert_eq!(
            fixed_policy.window(&history(&[(10, 100)])),
            fixed(Basis::Fixed),
            "the fixed policy ignores any history"
        );
    }

    #[test]
    fn a_window_without_a_prewarm_is_capped_at_the_fixed_expiry_unless_histogram() {
        // Bursts: most calls seconds apart, the rest an hour apart.
        let bursts = history(&[(0, 90), (60, 10)]);
        let w = adaptive().window(&bursts);
        assert_eq!(
            (w.prewarm, w.keep_alive),
            (Duration::ZERO, Duration::from_secs(300))
        );
        assert_eq!(w.basis, Basis::Learned);
        let paper = ScalingPolicy {
            keep_alive: KeepAlive::Histogram,
            ..adaptive()
        };
        let w = paper.window(&bursts);
        assert_eq!(
            w.keep_alive,
            Duration::from_secs(61 * 66),
            "61 minutes plus 10%"
        );
        let periodic = history(&[(30, 50)]);
        assert_eq!(
            adaptive().window(&periodic),
            paper.window(&periodic),
            "a window with a pre-warm is the paper's"
        );
    }

    #[test]
    fn a_learned_window_decides_when_an_idle_worker_goes() {
        let p = adaptive();
        let w = p.window(&history(&[(0, 100)]));
        assert_eq!(w.keep_alive, Duration::from_secs(66));
        assert_eq!(p.keep_idle(Duration::from_secs(65), &w), Keep::Keep);
        assert_eq!(p.keep_idle(Duration::from_secs(66), &w), Keep::Release);
    }
}
