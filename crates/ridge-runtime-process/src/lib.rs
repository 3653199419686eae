//! The process runtime adapter: workers that are sandboxed processes, each one long-lived
//! program that has loaded one function (version) once and serves executions one at a time over
//! length-prefixed frames on pipes (the worker protocol, docs/runtime-protocol.md).
//!
//! [`ProcessAdapter`] is the one implementation for process workers; Python, Node.js and the
//! kinds an operator declares ([`CustomKind`]) differ only in how the interpreter is launched.
//! The Python and Node.js worker programs (`worker-programs/`) are embedded at build time.
//!
//! This crate owns the process, its captured output and the protocol. Not here: the adapter
//! interface (`ridge-runtime`), isolation (`ridge-sandbox`), pools, scheduling and timeouts
//! (`ridge-engine`).

mod capture;
mod custom;
mod exchange;
mod exit;
mod frame;
mod launch;
mod node;
mod process;
mod protocol;
mod python;
mod spawn;
mod standby;
mod throttle;
mod zygote;

pub use custom::{CustomKind, CustomKindError, CustomKindSpec, DIR_PLACEHOLDER};
pub use launch::{ProcessAdapter, ProcessConfig, WORKER_ENV};
