//! Compiled modules on disk: a module is compiled once per (function, version, content,
//! engine) and its machine code written to the cache directory; later workers, and the next
//! server start, load that file instead of compiling again.
//!
//! A cache file is named `<function>-v<version>-<sha256 of the .wasm, 16 hex>-<engine, 16
//! hex>.cwasm`, the engine part hashing wasmtime's version and every setting that changes the
//! code. A different Ridge build or configuration so writes new files and never reads stale
//! ones; a file wasmtime still refuses is compiled again and replaced.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use ridge_runtime::WorkerSpec;
use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use crate::WasmError;
use crate::entry::ModuleFile;

/// The version word of a component binary (a core module's is `1, 0, 0, 0`).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

/// A module looked up in the cache.
pub(crate) enum Lookup {
    Cached(Module),
    /// Not cached: these bytes must be compiled, and written to `cache` (if any) afterwards.
    Compile {
        bytes: Vec<u8>,
        cache: Option<PathBuf>,
    },
}

/// The compiled module for `file` from `cache_dir` when it holds one, else the module's bytes
/// to [`compile`]. A file over `max_size` bytes is refused before it is read. Blocking: reads
/// and hashes the module.
pub(crate) fn lookup(
    engine: &Engine,
    cache_dir: Option<&Path>,
    spec: &WorkerSpec,
    file: &ModuleFile,
    max_size: u64,
) -> Result<Lookup, WasmError> {
    let read = |source| WasmError::Read {
        path: file.path.clone(),
        source,
    };
    let size = std::fs::metadata(&file.path).map_err(read)?.len();
    if size > max_size {
        return Err(WasmError::ModuleTooLarge {
            module: file.name.clone(),
            size,
            limit: max_size,
        });
    }
    let bytes = std::fs::read(&file.path).map_err(read)?;
    let Some(cache_dir) = cache_dir else {
        return Ok(Lookup::Compile { bytes, cache: None });
    };
    let cached = cache_dir.join(cache_name(engine, spec, &bytes));
    if cached.is_file() {
        match deserialize(engine, &cached) {
            Ok(module) => {
                tracing::debug!(path = %cached.display(), "compiled module from the cache");
                return Ok(Lookup::Cached(module));
            }
            Err(e) => {
                tracing::warn!(path = %cached.display(), error = %format!("{e:#}"), "cached module refused: compiling again");
            }
        }
    }
    Ok(Lookup::Compile {
        bytes,
        cache: Some(cached),
    })
}

/// Compiles `bytes` (within the bounds of [`crate::compile`]) and writes the machine code to
/// `cache`, if given. Blocking, and CPU-bound.
pub(crate) fn compile(
    engine: &Engine,
    bytes: &[u8],
    cache: Option<&Path>,
    file: &ModuleFile,
) -> Result<Module, WasmError> {
    let module = compile_checked(engine, bytes, file)?;
    let Some(cached) = cache else {
        return Ok(module);
    };
    let serialized = module.serialize().map_err(|e| WasmError::Serialize {
        module: file.name.clone(),
        detail: format!("{e:#}"),
    })?;
    let dir = cached.parent().unwrap_or(Path::new("."));
    write_atomically(dir, cached, &serialized)?;
    tracing::debug!(path = %cached.display(), size = serialized.len(), "cached compiled module");
    Ok(module)
}

fn compile_checked(engine: &Engine, bytes: &[u8], file: &ModuleFile) -> Result<Module, WasmError> {
    if bytes.get(4..8) == Some(&COMPONENT_VERSION[..]) {
        return Err(WasmError::InvalidModule {
            module: file.name.clone(),
            detail: "it is a component; Ridge runs core modules (WASI preview 1), build for `wasm32-wasip1` or `wasm32-wasi`".to_owned(),
        });
    }
    crate::compile::check_functions(&file.name, bytes)?;
    Module::new(engine, bytes).map_err(|e| WasmError::InvalidModule {
        module: file.name.clone(),
        detail: format!("{e:#}"),
    })
}

/// Loads a module this process's engine, or an identical one, serialized earlier. The file is
/// read into memory rather than mapped: a mapped file truncated underneath (by hand, by a disk
/// clean-up) would crash the server with SIGBUS.
#[expect(
    unsafe_code,
    reason = "wasmtime's only way to load compiled code; the file is Ridge's own, see SAFETY"
)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Module> {
    let bytes = std::fs::read(path)?;
    // SAFETY: wasmtime requires that the bytes are what `Module::serialize` wrote, since it
    // loads them as executable code. Only this module writes the cache directory, which lives
    // in Ridge's data directory; files appear there by an atomic rename of a fully written and
    // synced temporary file, so a reader never sees a partial one. wasmtime itself checks the
    // header (its version and the engine's settings) and refuses a mismatch.
    unsafe { Module::deserialize(engine, bytes) }
}

/// The cache file name for `bytes` compiled by `engine` for `spec`'s function and version.
fn cache_name(engine: &Engine, spec: &WorkerSpec, bytes: &[u8]) -> String {
    let content = hex::encode(&Sha256::digest(bytes)[..8]);
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!(
        "{}-v{}-{content}-{:016x}.cwasm",
        spec.function_id,
        spec.function_version,
        hasher.finish()
    )
}

fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), WasmError> {
    let failed = |source| WasmError::Cache {
        path: target.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".compiling-")
        .tempfile_in(dir)
        .map_err(failed)?;
    temp.write_all(bytes).map_err(failed)?;
    temp.as_file().sync_all().map_err(failed)?;
    temp.persist(target).map_err(|e| failed(e.error))?;
    Ok(())
}
