//! Scaling policy: small questions with small answers, apart from the pool mechanism so they
//! can be tested without processes.

use std::time::Duration;

/// What to do for an execution that wants a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// Take an idle warm worker.
    Reuse,
    /// Start a new worker (cold start).
    Start,
    /// Wait until a worker is returned.
    Wait,
}

/// Whether an idle worker should be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Keep,
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// Most workers one (function, version) may have at once.
    pub max_workers: usize,
    /// A worker idle longer than this is stopped (Qinling's `function_service_expiration`).
    pub idle_expiry: Duration,
}

impl Default for ScalingPolicy {
    fn default() -> Self {
        Self {
            max_workers: 10,
            idle_expiry: Duration::from_secs(300),
        }
    }
}

impl ScalingPolicy {
    /// `idle` workers are free, `live` is every worker of the pool (idle, busy and starting).
    pub fn acquire(&self, idle: usize, live: usize) -> Acquire {
        if idle > 0 {
            Acquire::Reuse
        } else if live < self.max_workers {
            Acquire::Start
        } else {
            Acquire::Wait
        }
    }

    pub fn keep_idle(&self, idle_for: Duration) -> Keep {
        if idle_for >= self.idle_expiry {
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
        };
        assert_eq!(p.acquire(1, 2), Acquire::Reuse);
        assert_eq!(p.acquire(0, 0), Acquire::Start);
        assert_eq!(p.acquire(0, 1), Acquire::Start);
        assert_eq!(p.acquire(0, 2), Acquire::Wait);
    }

    #[test]
    fn releases_after_the_idle_expiry() {
        let p = ScalingPolicy {
            max_workers: 2,
            idle_expiry: Duration::from_secs(60),
        };
        assert_eq!(p.keep_idle(Duration::from_secs(59)), Keep::Keep);
        assert_eq!(p.keep_idle(Duration::from_secs(60)), Keep::Release);
    }
}
