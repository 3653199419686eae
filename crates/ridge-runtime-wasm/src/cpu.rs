//! The function's `cpu` for WebAssembly. A guest runs on one thread of the server at a time; at
//! every epoch tick (10 ms by default) its thread's CPU time is compared with what its share allows
//! since the execution began (`cpu` millicores: 100 is a tenth of a core). A guest ahead of its
//! share pauses until the share catches up: its future sleeps, so the thread is idle, and the
//! timeout and a kill still end it meanwhile. A guest at 1000 millicores or more is never
//! paused (one thread cannot use more than a core).
//!
//! Measured on the thread (`getrusage(RUSAGE_THREAD)`), so waiting in a host call (a sleep)
//! costs nothing, and a guest overtaken by the host's other work is not paused for time it did
//! not get.

use std::thread::ThreadId;
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;

/// One execution's share of a core, measured from its start on the threads that run it: an
/// execution starts on an async worker and, if it outlasts its first epoch tick, goes on on a
/// blocking thread (`worker.rs`). Each [`CpuShare::pause`] adds what the guest's thread used
/// since the last one; on a thread it has not seen, it starts counting there (what the old
/// thread ran after the last check, at most one tick, goes uncounted).
pub(crate) struct CpuShare {
    millicores: u32,
    wall_start: Instant,
    /// CPU time counted on earlier threads and, on `thread`, up to `cpu_mark`.
    used: Duration,
    thread: ThreadId,
    cpu_mark: Duration,
}

impl CpuShare {
    /// Starts measuring on the calling thread, which must be the one that runs the guest.
    pub(crate) fn start(millicores: u32) -> Self {
        Self {
            millicores,
            wall_start: Instant::now(),
            used: Duration::ZERO,
            thread: std::thread::current().id(),
            cpu_mark: thread_cpu_time(),
        }
    }

    /// How long the guest must pause now to stay within its share, if at all. Call on the
    /// thread that runs it.
    pub(crate) fn pause(&mut self) -> Option<Duration> {
        if self.millicores >= 1000 {
            return None;
        }
        let now = thread_cpu_time();
        let thread = std::thread::current().id();
        if thread == self.thread {
            self.used += now.saturating_sub(self.cpu_mark);
        } else {
            self.thread = thread;
        }
        self.cpu_mark = now;
        pause_for(self.millicores, self.used, self.wall_start.elapsed())
    }
}

/// The pause after which `used` CPU time over `elapsed` wall time is within `millicores`
/// thousandths of a core, or `None` when it already is.
fn pause_for(millicores: u32, used: Duration, elapsed: Duration) -> Option<Duration> {
    let millicores = millicores.max(1);
    let allowed = elapsed * millicores / 1000;
    let ahead = used.checked_sub(allowed).filter(|d| !d.is_zero())?;
    Some(ahead * 1000 / millicores)
}

/// User and system time of the calling thread; zero if the kernel does not say (then no
/// guest is paused).
fn thread_cpu_time() -> Duration {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_THREAD) else {
        return Duration::ZERO;
    };
    duration(usage.user_time()) + duration(usage.system_time())
}

fn duration(t: TimeVal) -> Duration {
    let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
    let micros = u64::try_from(t.tv_usec()).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_guest_ahead_of_its_share_pauses_until_the_share_catches_up() {
        // 10 ms of CPU in the first 10 ms at a tenth of a core: 9 ms ahead, 90 ms to wait.
        assert_eq!(pause_for(100, 10 * MS, 10 * MS), Some(90 * MS));
        // After that pause it is within its share.
        assert_eq!(pause_for(100, 10 * MS, 100 * MS), None);
        // Half a core, 60 ms used in 100 ms: 10 ms ahead, 20 ms to wait.
        assert_eq!(pause_for(500, 60 * MS, 100 * MS), Some(20 * MS));
        assert_eq!(pause_for(500, 50 * MS, 100 * MS), None);
    }

    /// Spins until this thread has used `cpu` more CPU time.
    fn spin(cpu: Duration) {
        let start = thread_cpu_time();
        while thread_cpu_time() - start < cpu {}
    }

    #[test]
    fn a_whole_core_is_never_paused_and_time_is_measured_on_the_thread() {
        let mut share = CpuShare::start(1000);
        spin(30 * MS);
        assert_eq!(share.pause(), None);

        let mut share = CpuShare::start(100);
        spin(30 * MS);
        assert!(
            share.pause().is_some(),
            "30 ms of spinning is ahead of a tenth of a core"
        );
        let mut idle = CpuShare::start(100);
        std::thread::sleep(30 * MS);
        assert_eq!(idle.pause(), None, "sleeping uses no CPU");
    }

    #[test]
    fn a_share_that_moves_to_another_thread_keeps_what_it_used() {
        let mut share = CpuShare::start(100);
        spin(30 * MS);
        let before = share
            .pause()
            .expect("30 ms of spinning is ahead of a tenth of a core");
        // The new thread has used almost nothing: its clock must not be read against the old
        // thread's mark (which would give nothing, or a huge figure).
        let after = std::thread::spawn(move || share.pause())
            .join()
            .expect("thread")
            .expect("still ahead after the move");
        assert!(
            after <= before && after + 10 * MS >= before,
            "{after:?} against {before:?}"
        );
    }
}
