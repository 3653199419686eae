//! The wasmtime engine shared by every WebAssembly function of a server: its configuration,
//! the WASI linker, and the epoch ticker that makes timeouts interrupt running code.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, OptLevel, PoolingAllocationConfig,
    ResourceLimiter,
};
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::{WasmConfig, WasmError};

/// A store's data: the guest's WASI context and its memory limiter.
pub(crate) struct Guest {
    pub wasi: WasiP1Ctx,
    pub limiter: MemoryLimiter,
}

/// Caps linear memory at the function's `memory_size`. Growth past it fails the way the
/// WebAssembly spec says (`memory.grow` returns -1, `malloc` returns NULL); the refusal is
/// remembered so that the failure it likely causes is reported as a memory limit.
pub(crate) struct MemoryLimiter {
    pub limit: u64,
    pub refused: Arc<AtomicBool>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired as u64 <= self.limit;
        if !allowed {
            self.refused
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables are bounded by the pool's `table_elements`.
        Ok(desired <= TABLE_ELEMENTS)
    }
}

/// The most elements a table may have; wasmtime's default for the pool.
const TABLE_ELEMENTS: usize = 20_000;
/// Bytes of a pool slot's linear memory, and of its table, zeroed in place when an instance
/// ends rather than decommitted: one wasm page.
const KEEP_RESIDENT: usize = 64 * 1024;

/// The engine and what every module links against.
pub(crate) struct Host {
    pub engine: Engine,
    pub linker: Linker<Guest>,
    /// Compiles allowed at once: half the cores, at least one (each compile uses one thread).
    pub compiles: Semaphore,
}

impl Host {
    /// Configures wasmtime: cranelift optimising for speed on one thread per compile, the
    /// pooling allocator sized by the configuration, epoch interruption, and the WASI
    /// preview 1 imports. Starts the ticker.
    pub(crate) fn new(config: &WasmConfig) -> Result<Arc<Self>, WasmError> {
        let unavailable = |e: wasmtime::Error| WasmError::EngineUnavailable {
            detail: format!("{e:#}"),
        };
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(config.max_instances)
            .total_memories(config.max_instances)
            .total_tables(config.max_instances)
            .total_stacks(config.max_instances)
            .table_elements(TABLE_ELEMENTS)
            .max_memory_size(usize::try_from(config.max_memory).unwrap_or(usize::MAX))
            // A slot's first wasm page (and its table's first 64 KiB) is zeroed with `memset`
            // when the instance ends, instead of given back with `madvise`: no system call, no
            // TLB shootdown across the server's threads, no page faults when the next instance
            // touches it (docs/wasm.md, docs/benchmarks.md). At most 128 KiB stays resident
            // per slot used (32 MiB for the default 256 slots).
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        let mut wasmtime_config = Config::new();
        wasmtime_config
            .cranelift_opt_level(OptLevel::Speed)
            .epoch_interruption(true)
            // One untrusted compile must not take every core (see `compile.rs`).
            .parallel_compilation(false)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasmtime_config).map_err(unavailable)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |guest: &mut Guest| &mut guest.wasi)
            .map_err(unavailable)?;
        spawn_ticker(&engine, config.tick).map_err(|e| WasmError::EngineUnavailable {
            detail: format!("cannot start the epoch ticker thread: {e}"),
        })?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Arc::new(Self {
            engine,
            linker,
            compiles: Semaphore::new((cores / 2).max(1)),
        }))
    }
}

/// Advances the engine's epoch every `tick` until the engine is dropped. A store whose
/// deadline passed runs its epoch callback at the next check in the guest's code, loops
/// included.
fn spawn_ticker(engine: &Engine, tick: Duration) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("ridge-wasm-epoch".to_owned())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map(drop)
}
