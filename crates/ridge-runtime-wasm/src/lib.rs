//! The WebAssembly runtime adapter, [`WasmAdapter`] (`image: "wasm"`): a function is a WASI
//! preview 1 module run by wasmtime inside this process. It implements `ridge-runtime`'s
//! interface and depends on nothing else of Ridge but `ridge-core`.
//!
//! A module is compiled once per (function, version) and its machine code cached on disk; a
//! worker is the module pre-instantiated against the WASI imports (cheap, no process); every
//! execution instantiates it afresh from wasmtime's pooling allocator, so nothing survives from
//! one execution to the next. The contract: the input JSON on stdin, stdout is the output
//! (JSON, or a string if it is not JSON), stderr is the log, a non-zero exit or a trap fails.
//!
//! Defaults, all denying what a module does not need (see [`WasmConfig`] for the grants):
//! - no filesystem, no environment variables, no arguments beyond the program name, no sockets
//!   (WASI preview 1 cannot open one), only stdin/stdout/stderr, clocks and random numbers;
//! - linear memory capped at the function's `memory_size` by a resource limiter;
//! - the function's `timeout` enforced by epoch interruption: a loop without host calls stops;
//! - the function's `cpu` enforced per execution ([`cpu`]): a guest ahead of its share of a
//!   core pauses at the next epoch tick, so spinning guests cannot starve the server;
//! - compiling an untrusted module bounded before it is cached (`compile.rs`): its size and its
//!   largest function are capped, and compiles run one thread each, a few at a time.
//!
//! Not here: pools, queues and the engine's timeout (`ridge-engine`), the process sandbox
//! (`ridge-sandbox`: a guest never leaves wasmtime's sandbox, so no process is started).

mod adapter;
mod cache;
mod compile;
mod cpu;
mod entry;
mod error;
mod execute;
#[cfg(feature = "guests")]
pub mod guests;
mod host;
mod kept;
mod output;
mod worker;

pub use adapter::{WasmAdapter, WasmConfig};
pub use compile::MAX_FUNCTION_SIZE;
pub use entry::{MODULE_EXTENSION, START_EXPORT};
pub use error::WasmError;
