//! The host-wide budget for warm workers: the sum of the live workers' `memory_size` stays
//! under a configured share of the host's memory, so many functions cannot together start more
//! workers than the machine can hold.

use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug)]
pub(crate) struct Capacity {
    limit: u64,
    used: Mutex<u64>,
    /// Woken whenever memory is given back.
    pub freed: Notify,
}

impl Capacity {
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            used: Mutex::new(0),
            freed: Notify::new(),
        }
    }

    fn used(&self) -> std::sync::MutexGuard<'_, u64> {
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `bytes` from the budget if they fit.
    pub fn try_reserve(&self, bytes: u64) -> bool {
        let mut used = self.used();
        if used.saturating_add(bytes) <= self.limit {
            *used += bytes;
            true
        } else {
            false
        }
    }

    pub fn release(&self, bytes: u64) {
        {
            let mut used = self.used();
            *used = used.saturating_sub(bytes);
        }
        self.freed.notify_waiters();
    }

    /// (used, limit) in bytes.
    pub fn usage(&self) -> (u64, u64) {
        (*self.used(), self.limit)
    }
}

/// The workers' memory budget: `share` of the host's memory (of 8 GiB when it cannot be read).
pub fn worker_memory_budget(share: f64) -> u64 {
    let total = host_memory().unwrap_or(8 << 30);
    (total as f64 * share) as u64
}

/// The host's total memory in bytes, from `/proc/meminfo`.
pub fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_within_the_limit_only() {
        let c = Capacity::new(100);
        assert!(c.try_reserve(60));
        assert!(!c.try_reserve(50));
        assert!(c.try_reserve(40));
        c.release(60);
        assert_eq!(c.usage(), (40, 100));
        assert!(c.try_reserve(60));
    }

    #[test]
    fn reads_host_memory() {
        assert!(host_memory().is_some_and(|m| m > 0));
    }
}
