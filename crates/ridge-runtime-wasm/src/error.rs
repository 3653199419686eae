//! The crate's one error enum: why a worker could not be started.

use std::path::PathBuf;

use ridge_runtime::StartError;

/// Why a module could not be made ready to run. Variants up to [`WasmError::FunctionTooLarge`]
/// are the function's fault (its package); the rest are the platform's.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error(
        "no WebAssembly module for entry `{entry}`: the package has no `{expected}`{found}; upload a `.wasm` file, or a zip holding `{expected}`"
    )]
    ModuleNotFound {
        entry: String,
        expected: String,
        /// What the package holds instead, already phrased (`, only ...`).
        found: String,
    },
    #[error("`{module}` is not a valid WebAssembly module: {detail}")]
    InvalidModule { module: String, detail: String },
    #[error(
        "`{module}` cannot be linked ({detail}): a module may import only WASI preview 1 functions (`wasi_snapshot_preview1`)"
    )]
    Link { module: String, detail: String },
    #[error(
        "`{module}` exports no function `{export}`: a WASI command exports `_start` (entry `<module>.main`), a reactor the function that entry names"
    )]
    MissingExport { module: String, export: String },
    #[error(
        "export `{export}` of `{module}` has type {found}: the function an entry names takes no parameters and returns nothing"
    )]
    ExportType {
        module: String,
        export: String,
        found: String,
    },
    #[error(
        "`{module}` has {size} bytes, more than the {limit} bytes a module may have on this server (`[wasm] max_module_size`): build it smaller (optimise for size, strip debug sections)"
    )]
    ModuleTooLarge {
        module: String,
        size: u64,
        limit: u64,
    },
    #[error(
        "`{module}` has a function of {size} bytes, more than the {limit} bytes a function may have: split it into smaller functions"
    )]
    FunctionTooLarge {
        module: String,
        size: usize,
        limit: usize,
    },

    /// wasmtime could not be set up on this host (the pooling allocator's reservation failed).
    #[error("the WebAssembly engine is unavailable: {detail}")]
    EngineUnavailable { detail: String },
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the compiled module cache `{}`", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize the compiled module `{module}`: {detail}")]
    Serialize { module: String, detail: String },
    #[error("preparing the module panicked")]
    Panicked,
}

impl WasmError {
    /// Whether the function's package is at fault (a failed execution), not the platform.
    pub fn is_function_fault(&self) -> bool {
        matches!(
            self,
            WasmError::ModuleNotFound { .. }
                | WasmError::InvalidModule { .. }
                | WasmError::Link { .. }
                | WasmError::MissingExport { .. }
                | WasmError::ExportType { .. }
                | WasmError::ModuleTooLarge { .. }
                | WasmError::FunctionTooLarge { .. }
        )
    }
}

impl From<WasmError> for StartError {
    fn from(e: WasmError) -> Self {
        if e.is_function_fault() {
            StartError::Load {
                message: e.to_string(),
                logs: String::new(),
            }
        } else {
            let detail = e.to_string();
            let source = match e {
                WasmError::Read { source, .. } | WasmError::Cache { source, .. } => Some(source),
                _ => None,
            };
            StartError::Spawn { detail, source }
        }
    }
}
