//! Test guests (feature `guests`): the modules in `guests/`, as WebAssembly binaries, for the
//! tests and the benchmark. Text-format modules are assembled with the `wat` crate; C ones are
//! compiled with Debian's `clang-14` for `wasm32-wasi` (packages `clang-14`, `lld-14`,
//! `wasi-libc`, `libclang-rt-14-dev-wasm32`), since the Rust toolchain here has no wasm target.

use std::path::{Path, PathBuf};
use std::process::Command;

use ridge_core::{Entry, FunctionId, Limits, NetworkAccess};
use ridge_runtime::WorkerSpec;

/// Echoes stdin to stdout and logs a line: `_start`.
pub const ECHO_WAT: &str = include_str!("../guests/echo.wat");
/// Prints how often it ran in the same instance (always 1).
pub const COUNTER_WAT: &str = include_str!("../guests/counter.wat");
/// Logs a line, then executes `unreachable`.
pub const TRAP_WAT: &str = include_str!("../guests/trap.wat");
/// Logs a line, then calls `proc_exit(3)`.
pub const EXIT_WAT: &str = include_str!("../guests/exit.wat");
/// Loops forever without a host call.
pub const SPIN_WAT: &str = include_str!("../guests/spin.wat");
/// Sleeps an hour in one host call.
pub const SLEEP_WAT: &str = include_str!("../guests/sleep.wat");
/// Grows memory until refused, then traps.
pub const GROW_WAT: &str = include_str!("../guests/grow.wat");
/// A reactor: `_initialize`, then `handle`.
pub const REACTOR_WAT: &str = include_str!("../guests/reactor.wat");
/// Greets the input's `name` as JSON, logs the input size.
pub const HELLO_C: &str = include_str!("../guests/hello.c");
/// Allocates until malloc fails, then exits 1.
pub const HOG_C: &str = include_str!("../guests/hog.c");

/// The compiler for C guests.
pub const CLANG: &str = "clang-14";

/// A spec for a new function's package at `package_dir`: entry `main.main`, Qinling's default
/// limits (32 MiB, 5 s), a 64 KiB log.
pub fn spec(package_dir: PathBuf) -> WorkerSpec {
    WorkerSpec {
        runtime_id: ridge_core::RuntimeId::new(),
        function_id: FunctionId::new(),
        function_version: 0,
        package_dir,
        entry: Entry::default_entry(),
        limits: Limits {
            cpu: 100,
            memory_size: 32 << 20,
            timeout: 5,
        },
        network: NetworkAccess::Loopback,
        log_cap: 64 * 1024,
        result_cap: 6 << 20,
        startup_allowance: true,
    }
}

/// Assembles a text-format module.
pub fn wat(source: &str) -> Vec<u8> {
    wat::parse_str(source).expect("the guests' text-format modules are valid")
}

/// Compiles a C program to a WASI command with [`CLANG`]; the error says what to install.
pub fn c(source: &str) -> Result<Vec<u8>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let src = dir.path().join("guest.c");
    let out = dir.path().join("guest.wasm");
    std::fs::write(&src, source).map_err(|e| format!("cannot write {}: {e}", src.display()))?;
    compile_c_file(&src, &out)?;
    std::fs::read(&out).map_err(|e| format!("cannot read {}: {e}", out.display()))
}

fn compile_c_file(src: &Path, out: &Path) -> Result<(), String> {
    let output = Command::new(CLANG)
        .args(["--target=wasm32-wasi", "-O2", "-fuse-ld=lld", "-Wl,--strip-all"])
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|e| {
            format!("cannot run `{CLANG}` ({e}): apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32")
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{CLANG}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
