//! The size of each runtime's pool of pre-started workers on this node (the admin's setting,
//! or the server's default), granted within the host's worker memory budget: every
//! pre-started worker holds [`PRESTART_MEMORY`] of it while the pool keeps it. The workers
//! themselves are the adapter's (`RuntimeAdapter::set_prestarted`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ridge_core::RuntimeId;
use ridge_runtime::PRESTART_MEMORY;

use crate::adapters::Adapter;
use crate::capacity::Capacity;

/// Bounds of the pre-started pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrestartConfig {
    /// Pre-started workers per runtime when its admin set none (`[runtimes] pool_size`).
    pub default_size: u32,
    /// The largest size an admin may set (`[runtimes] max_pool_size`).
    pub max_size: u32,
}

impl PrestartConfig {
    pub const DEFAULT_SIZE: u32 = 2;
    pub const MAX_SIZE: u32 = 32;
}

impl Default for PrestartConfig {
    fn default() -> Self {
        Self {
            default_size: Self::DEFAULT_SIZE,
            max_size: Self::MAX_SIZE,
        }
    }
}

pub(crate) struct Prestart {
    capacity: Arc<Capacity>,
    /// Workers granted per runtime (their memory is reserved).
    granted: Mutex<HashMap<RuntimeId, usize>>,
}

impl Prestart {
    pub fn new(capacity: Arc<Capacity>) -> Self {
        Self {
            capacity,
            granted: Mutex::new(HashMap::new()),
        }
    }

    fn granted_map(&self) -> MutexGuard<'_, HashMap<RuntimeId, usize>> {
        self.granted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks `adapter` to keep `wanted` workers for `runtime`, as many as the memory budget
    /// holds (none when the adapter cannot pre-start); returns how many were granted.
    pub fn apply(&self, adapter: &Adapter, runtime: RuntimeId, wanted: usize) -> usize {
        let mut granted = self.granted_map();
        let before = granted.remove(&runtime).unwrap_or(0);
        self.capacity.release(worker_bytes(before));
        let mut n = if adapter.prestarted(runtime).unavailable.is_some() {
            0
        } else {
            wanted
        };
        while n > 0 && !self.capacity.try_reserve(worker_bytes(n)) {
            n -= 1;
        }
        if n > 0 {
            granted.insert(runtime, n);
        }
        drop(granted);
        adapter.set_prestarted(runtime, n);
        n
    }

    /// Releases every runtime's memory (the adapters stop their workers themselves).
    pub fn clear(&self) {
        let total: usize = self.granted_map().drain().map(|(_, n)| n).sum();
        self.capacity.release(worker_bytes(total));
    }
}

fn worker_bytes(n: usize) -> u64 {
    (n as u64).saturating_mul(PRESTART_MEMORY)
}
