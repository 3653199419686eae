//! [`WasmAdapter`]: the runtime adapter the engine starts WebAssembly workers through.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::RuntimeKind;
use ridge_runtime::{CheckError, RuntimeAdapter, StartError, Worker, WorkerSpec};
use wasmtime::{ExternType, Module};

use crate::cache::Lookup;
use crate::entry::{self, INITIALIZE_EXPORT, ModuleFile, START_EXPORT};
use crate::host::Host;
use crate::kept::Kept;
use crate::worker::{Prepared, WasmWorker};
use crate::{WasmError, cache};

/// What the operator decides about WebAssembly functions. Everything not granted here is
/// denied (see the crate documentation).
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// Where compiled modules are kept across workers and restarts. `None` compiles every
    /// module each time a worker starts (tests of the runtime itself).
    pub cache_dir: Option<PathBuf>,
    /// Grants a filesystem: every execution gets a fresh, empty directory under this one,
    /// seen by the module as `/tmp` and removed when the execution ends. `None` (the default)
    /// gives a module no filesystem at all. Disk use inside it is not capped.
    pub scratch_dir: Option<PathBuf>,
    /// How many executions may run at once across all WebAssembly functions: the pooling
    /// allocator's slots. An execution beyond them fails as a platform error.
    pub max_instances: u32,
    /// The largest linear memory a slot holds, in bytes; a function's `memory_size` above it
    /// is capped here. Only address space is reserved, not memory.
    pub max_memory: u64,
    /// How often running modules check their deadline, their `cpu` share and whether their
    /// worker was killed.
    pub tick: Duration,
    /// The largest module file a function may have, in bytes; a larger one fails to load
    /// before anything reads or compiles it.
    pub max_module_size: u64,
    /// Bytes of machine code of compiled modules kept in memory after their workers are
    /// gone, so that starting a worker again costs no load (least recently started first out;
    /// 0 keeps none). See `kept.rs`.
    pub module_memory: u64,
}

impl WasmConfig {
    pub const DEFAULT_MAX_INSTANCES: u32 = 256;
    /// All that a 32-bit linear memory can address.
    pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;
    pub const DEFAULT_TICK: Duration = Duration::from_millis(10);
    pub const DEFAULT_MAX_MODULE_SIZE: u64 = 32 << 20;
    pub const DEFAULT_MODULE_MEMORY: u64 = 128 << 20;
}

impl Default for WasmConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            scratch_dir: None,
            max_instances: Self::DEFAULT_MAX_INSTANCES,
            max_memory: Self::DEFAULT_MAX_MEMORY,
            tick: Self::DEFAULT_TICK,
            max_module_size: Self::DEFAULT_MAX_MODULE_SIZE,
            module_memory: Self::DEFAULT_MODULE_MEMORY,
        }
    }
}

pub struct WasmAdapter {
    config: WasmConfig,
    /// The engine, or why it could not be set up (reported by `check`).
    host: Result<Arc<Host>, String>,
    /// Linked modules kept for the next worker of the same package.
    kept: Kept<Prepared>,
}

impl WasmAdapter {
    /// Sets up wasmtime. A failure is kept and reported by [`RuntimeAdapter::check`], so that a host
    /// without WebAssembly still serves its other runtimes.
    pub fn new(config: WasmConfig) -> Self {
        let scratch = match &config.scratch_dir {
            Some(dir) => std::fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "cannot create the scratch directory `{}`: {e}",
                    dir.display()
                )
            }),
            None => Ok(()),
        };
        let host = scratch.and_then(|()| Host::new(&config).map_err(|e| e.to_string()));
        let kept = Kept::new(config.module_memory);
        Self { config, host, kept }
    }

    pub fn config(&self) -> &WasmConfig {
        &self.config
    }

    fn host(&self) -> Result<&Arc<Host>, WasmError> {
        self.host
            .as_ref()
            .map_err(|detail| WasmError::EngineUnavailable {
                detail: detail.clone(),
            })
    }
}

/// The compiled module `spec` names: from the cache, or compiled on a blocking thread once one
/// of the host's compile permits is free (waiting for it is abandoned with this future).
async fn load(
    host: &Arc<Host>,
    config: &WasmConfig,
    spec: &WorkerSpec,
) -> Result<(Module, ModuleFile), WasmError> {
    let (found, file) = {
        let (host, config, spec) = (host.clone(), config.clone(), spec.clone());
        blocking(move || {
            let file = entry::locate(&spec.package_dir, &spec.entry)?;
            let cache = config.cache_dir.as_deref();
            let found = cache::lookup(&host.engine, cache, &spec, &file, config.max_module_size)?;
            Ok((found, file))
        })
        .await?
    };
    match found {
        Lookup::Cached(module) => Ok((module, file)),
        Lookup::Compile { bytes, cache } => {
            let _permit = host
                .compiles
                .acquire()
                .await
                .map_err(|_| WasmError::Panicked)?;
            let host = host.clone();
            blocking(move || {
                let module = cache::compile(&host.engine, &bytes, cache.as_deref(), &file)?;
                Ok((module, file))
            })
            .await
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WasmError> + Send + 'static,
) -> Result<T, WasmError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| WasmError::Panicked)?
}

/// Links the compiled module for the export `spec`'s entry names: what a worker needs.
fn prepare(
    host: &Host,
    config: &WasmConfig,
    spec: &WorkerSpec,
    module: &Module,
    file: ModuleFile,
) -> Result<Prepared, WasmError> {
    let export = entry::export_name(&spec.entry, |name| module.get_export(name).is_some());
    match module.get_export(&export) {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => {}
        Some(ExternType::Func(ty)) => {
            return Err(WasmError::ExportType {
                module: file.name,
                export,
                found: ty.to_string(),
            });
        }
        Some(other) => {
            let kind = match other {
                ExternType::Global(_) => "a global",
                ExternType::Table(_) => "a table",
                ExternType::Memory(_) => "a memory",
                _ => "not a function",
            };
            return Err(WasmError::ExportType {
                module: file.name,
                export,
                found: kind.to_owned(),
            });
        }
        None => {
            return Err(WasmError::MissingExport {
                module: file.name,
                export,
            });
        }
    }
    let initialize = export != START_EXPORT && module.get_export(INITIALIZE_EXPORT).is_some();
    let pre = host
        .linker
        .instantiate_pre(module)
        .map_err(|e| WasmError::Link {
            module: file.name.clone(),
            detail: format!("{e:#}"),
        })?;
    Ok(Prepared {
        pre,
        program: file.name,
        export,
        initialize,
        scratch: config.scratch_dir.clone(),
    })
}

#[async_trait]
impl RuntimeAdapter for WasmAdapter {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::WASM
    }

    async fn check(&self) -> Result<String, CheckError> {
        self.host()
            .map_err(|e| CheckError::Unavailable(e.to_string()))?;
        let cache = match &self.config.cache_dir {
            Some(dir) => format!("compiled modules cached in {}", dir.display()),
            None => "no compiled-module cache".to_owned(),
        };
        let cache = format!(
            "{cache} and up to {} MiB of them kept in memory",
            self.config.module_memory >> 20
        );
        let filesystem = match &self.config.scratch_dir {
            Some(_) => "a scratch /tmp per execution",
            None => "no filesystem",
        };
        Ok(format!(
            "WASI preview 1 modules on wasmtime (cranelift, pooling allocator of {} instances), {filesystem}, {cache}",
            self.config.max_instances
        ))
    }

    async fn start(&self, spec: &WorkerSpec) -> Result<Box<dyn Worker>, StartError> {
        let host = self.host()?;
        let key = (spec.package_dir.clone(), spec.entry.to_string());
        if let Some(prepared) = self.kept.get(&key) {
            return Ok(Box::new(WasmWorker::new(spec, prepared)));
        }
        let (module, file) = load(host, &self.config, spec).await?;
        let prepared = Arc::new(prepare(host, &self.config, spec, &module, file)?);
        let code = module.image_range();
        let bytes = (code.end.addr() - code.start.addr()) as u64;
        self.kept.keep(key, prepared.clone(), bytes);
        Ok(Box::new(WasmWorker::new(spec, prepared)))
    }
}
