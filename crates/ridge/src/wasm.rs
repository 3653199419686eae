//! Settings of the WebAssembly runtime: the `[wasm]` table of the TOML file. Unknown keys are
//! errors.

use std::path::Path;

use anyhow::bail;
use ridge_runtime_wasm::WasmConfig;
use serde::Deserialize;

/// `[wasm]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmFile {
    /// Give every execution a fresh, empty `/tmp` (under `<data_dir>/run/wasm`), removed when it
    /// ends. Default false: a module has no filesystem at all.
    pub scratch: Option<bool>,
    /// How many WebAssembly executions may run at once on this server (default 256).
    pub max_instances: Option<u32>,
    /// The largest module file a function may have, in bytes (default 32 MiB).
    pub max_module_size: Option<u64>,
    /// Bytes of compiled machine code kept in memory after workers stop, so that a worker
    /// started again costs no load (default 128 MiB; 0 keeps none).
    pub module_memory: Option<u64>,
}

/// The runtime's configuration for a server with data directory `data_dir`.
pub fn config(file: Option<WasmFile>, data_dir: &Path) -> anyhow::Result<WasmConfig> {
    let file = file.unwrap_or_default();
    let max_instances = file
        .max_instances
        .unwrap_or(WasmConfig::DEFAULT_MAX_INSTANCES);
    if max_instances == 0 {
        bail!("invalid wasm.max_instances 0: at least one execution must be able to run");
    }
    let max_module_size = file
        .max_module_size
        .unwrap_or(WasmConfig::DEFAULT_MAX_MODULE_SIZE);
    if max_module_size < 8 {
        bail!("invalid wasm.max_module_size {max_module_size}: a module has at least 8 bytes");
    }
    Ok(WasmConfig {
        cache_dir: Some(data_dir.join("wasm-cache")),
        scratch_dir: file
            .scratch
            .unwrap_or(false)
            .then(|| data_dir.join("run").join("wasm")),
        max_instances,
        max_module_size,
        module_memory: file
            .module_memory
            .unwrap_or(WasmConfig::DEFAULT_MODULE_MEMORY),
        ..WasmConfig::default()
    })
}
