//! Scenario 11: the keep-alive policies over a synthetic trace: fixed, adaptive, and the
//! paper's uncapped histogram policy.
//!
//! What it is, honestly: a **simulation** in trace time, not a replay against a server. A trace
//! of periodic, bursty, frequent and rare functions is generated from a seed ([`trace`]); each
//! policy is then played over it call by call with Ridge's own decision code
//! (`ridge_engine::policy` and `ridge_core::ArrivalHistogram`, the code the engine runs), one
//! worker per function, executions taking no time, and the learned window updated at every
//! call (the engine updates it every reaper tick, at most 10 s late, against 1-minute buckets).
//! It counts cold starts (a call with no worker alive) and idle worker-seconds (a worker alive
//! between calls: the memory a policy spends). The mechanism itself (release after the call,
//! the pre-warm, the release at the end of the window) is tested end to end with real workers
//! in `crates/ridge/tests/it/scaling.rs`.

mod trace;

use std::time::Duration;

use ridge_core::ArrivalHistogram;
use ridge_engine::KeepAlive;
use ridge_engine::policy::{Basis, ScalingPolicy};

use super::{Ctx, Outcome};
use crate::report::Row;
use trace::{Class, Trace};

/// The seed of the trace (the same figures on every run).
const SEED: u64 = 0x5eed_2026;

/// What one policy did over the trace.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    calls: u64,
    cold: u64,
    idle_seconds: f64,
    /// Calls served while the function's window was learned (adaptive only).
    learned_calls: u64,
}

impl Tally {
    fn cold_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.cold as f64 / self.calls as f64
        }
    }

    fn add(&mut self, other: Tally) {
        self.calls += other.calls;
        self.cold += other.cold;
        self.idle_seconds += other.idle_seconds;
        self.learned_calls += other.learned_calls;
    }
}

/// Plays `policy` over one function's call times (seconds from the trace's start), up to `end`.
fn play(policy: &ScalingPolicy, calls: &[f64], end: f64) -> Tally {
    let mut tally = Tally::default();
    let mut history = ArrivalHistogram::default();
    let mut previous: Option<f64> = None;
    for &at in calls {
        tally.calls += 1;
        let Some(last) = previous else {
            tally.cold += 1;
            previous = Some(at);
            continue;
        };
        let window = policy.window(&history);
        if window.basis == Basis::Learned {
            tally.learned_calls += 1;
        }
        let gap = at - last;
        let (warm, idle) = alive(window.prewarm, window.keep_alive, gap);
        if !warm {
            tally.cold += 1;
        }
        tally.idle_seconds += idle;
        history.record(Duration::from_secs_f64(gap), policy.bucket);
        previous = Some(at);
    }
    if let Some(last) = previous {
        // After the last call, the worker lives out its window within the trace.
        let window = policy.window(&history);
        tally.idle_seconds += alive(window.prewarm, window.keep_alive, end - last).1;
    }
    tally
}

/// Whether a call `gap` seconds after the last finds a worker, and how long a worker was idle
/// in between, for a window of `prewarm` then `keep_alive`.
fn alive(prewarm: Duration, keep_alive: Duration, gap: f64) -> (bool, f64) {
    let from = prewarm.as_secs_f64();
    let until = from + keep_alive.as_secs_f64();
    let warm = gap >= from && gap < until;
    (warm, (gap.min(until) - from).max(0.0))
}

/// The policies compared, as their setting names them.
const POLICIES: [(&str, KeepAlive); 3] = [
    ("fixed", KeepAlive::Fixed),
    ("adaptive", KeepAlive::Adaptive),
    ("histogram", KeepAlive::Histogram),
];

/// Plays every policy over every function of the trace; by class, a tally per policy.
fn compare(trace: &Trace, policy: ScalingPolicy) -> Vec<(Class, [Tally; 3])> {
    Class::ALL
        .iter()
        .map(|&class| {
            let mut tallies = [Tally::default(); 3];
            for (tally, (_, keep_alive)) in tallies.iter_mut().zip(POLICIES) {
                let policy = ScalingPolicy {
                    keep_alive,
                    ..policy
                };
                for function in trace.functions.iter().filter(|f| f.class == class) {
                    tally.add(play(&policy, &function.calls, trace.seconds));
                }
            }
            (class, tallies)
        })
        .collect()
}

fn rows(by_class: &[(Class, [Tally; 3])], hours: f64) -> (Vec<Row>, [Tally; 3]) {
    let mut rows = Vec::new();
    let mut all = [Tally::default(); 3];
    let mut push = |name: &str, tallies: &[Tally; 3]| {
        for (t, (policy, _)) in tallies.iter().zip(POLICIES) {
            rows.push(
                Row::value(
                    format!("trace, {name}: cold-start rate, {policy}"),
                    t.cold_rate() * 100.0,
                    "%",
                )
                .note(format!("{} of {} calls cold", t.cold, t.calls)),
            );
        }
        for (t, (policy, _)) in tallies.iter().zip(POLICIES) {
            rows.push(
                Row::value(
                    format!("trace, {name}: idle worker-seconds, {policy}"),
                    t.idle_seconds,
                    "s",
                )
                .note(format!(
                    "{:.2} idle workers on average",
                    t.idle_seconds / (hours * 3600.0)
                )),
            );
        }
    };
    for (class, tallies) in by_class {
        push(class.name(), tallies);
        for (sum, t) in all.iter_mut().zip(tallies) {
            sum.add(*t);
        }
    }
    push("all", &all);
    (rows, all)
}

/// One policy against the fixed one, in words.
fn against_fixed(name: &str, fixed: &Tally, t: &Tally) -> String {
    let cut = 1.0 - t.cold_rate() / fixed.cold_rate().max(f64::MIN_POSITIVE);
    let memory = t.idle_seconds / fixed.idle_seconds.max(f64::MIN_POSITIVE);
    format!(
        "{name} against fixed: {:.0}% fewer cold starts, {:.2}x the idle worker-seconds; \
         {:.0}% of its calls had a learned window",
        cut * 100.0,
        memory,
        100.0 * t.learned_calls as f64 / t.calls.max(1) as f64
    )
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let (functions, hours) = if ctx.quick { (200, 48) } else { (1000, 168) };
    let trace = trace::generate(SEED, functions, hours);
    let policy = ScalingPolicy {
        idle_expiry: Duration::from_secs(300),
        bucket: Duration::from_secs(60),
        ..ScalingPolicy::default()
    };
    let by_class = compare(&trace, policy);
    let (rows, [fixed, adaptive, histogram]) = rows(&by_class, f64::from(hours));
    let notes = vec![
        format!(
            "simulated in trace time (not a replay against a server) with Ridge's policy code: \
             seed {SEED:#x}, {functions} functions over {hours} h ({} calls), \
             function_service_expiration 300 s, 1-minute buckets",
            fixed.calls
        ),
        against_fixed("adaptive", &fixed, &adaptive),
        against_fixed("histogram (the paper's, uncapped)", &fixed, &histogram),
    ];
    Ok(Outcome::ran(rows, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(keep_alive: KeepAlive) -> ScalingPolicy {
        ScalingPolicy {
            idle_expiry: Duration::from_secs(300),
            bucket: Duration::from_secs(60),
            keep_alive,
            ..ScalingPolicy::default()
        }
    }

    #[test]
    fn a_period_longer_than_the_expiry_is_always_cold_when_fixed_and_learned_when_adaptive() {
        let calls: Vec<f64> = (0..40).map(|n| f64::from(n) * 600.0).collect();
        let end = 40.0 * 600.0;
        let fixed = play(&policy(KeepAlive::Fixed), &calls, end);
        assert_eq!((fixed.calls, fixed.cold), (40, 40));
        assert_eq!(fixed.idle_seconds, 40.0 * 300.0);
        let adaptive = play(&policy(KeepAlive::Adaptive), &calls, end);
        // Cold while learning (the first call, then 10 gaps), warm from then on.
        assert_eq!(adaptive.cold, 11);
        assert_eq!(adaptive.learned_calls, 29);
        assert!(adaptive.idle_seconds < fixed.idle_seconds);
    }

    #[test]
    fn a_window_is_alive_from_its_prewarm_to_its_end() {
        let (p, k) = (Duration::from_secs(100), Duration::from_secs(50));
        assert_eq!(alive(p, k, 90.0), (false, 0.0));
        assert_eq!(alive(p, k, 120.0), (true, 20.0));
        assert_eq!(alive(p, k, 400.0), (false, 50.0));
        assert_eq!(alive(Duration::ZERO, k, 10.0), (true, 10.0));
    }
}
