//! The WebAssembly runtime on its own: real wasmtime, real modules (text format and C), no
//! engine. The engine-level behaviour (timeouts through the API, warm pools) is tested in
//! `crates/ridge/tests/wasm.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use ridge_core::execution::messages;
use ridge_core::{Entry, ExecutionId, ExecutionInput, Limits};
use ridge_runtime::{
    Invocation, InvocationOutcome, RuntimeAdapter, StartError, Worker, WorkerSpec,
};
use ridge_runtime_wasm::{WasmAdapter, WasmConfig, guests};
use serde_json::{Value, json};
use tempfile::TempDir;

const MIB: u64 = 1024 * 1024;

struct Fixture {
    runtime: WasmAdapter,
    cache: TempDir,
    packages: TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(adjust: impl FnOnce(&mut WasmConfig)) -> Self {
        let cache = tempfile::tempdir().expect("temp dir");
        let mut config = WasmConfig {
            cache_dir: Some(cache.path().to_owned()),
            max_instances: 16,
            ..WasmConfig::default()
        };
        adjust(&mut config);
        Self {
            runtime: WasmAdapter::new(config),
            cache,
            packages: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A package holding `files`, and a spec for it.
    fn spec(&self, files: &[(&str, &[u8])], entry: &str, limits: Limits) -> WorkerSpec {
        let dir = tempfile::tempdir_in(self.packages.path())
            .expect("package dir")
            .keep();
        for (name, bytes) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("write");
        }
        WorkerSpec {
            entry: Entry::try_from(entry.to_owned()).expect("valid entry"),
            limits,
            log_cap: 4096,
            ..guests::spec(dir)
        }
    }

    async fn start(&self, module: &[u8]) -> Box<dyn Worker> {
        self.start_with(module, "main.main", limits()).await
    }

    async fn start_with(&self, module: &[u8], entry: &str, limits: Limits) -> Box<dyn Worker> {
        let spec = self.spec(&[("main.wasm", module)], entry, limits);
        self.runtime.start(&spec).await.expect("worker starts")
    }

    fn cached_files(&self) -> Vec<String> {
        files(self.cache.path())
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn limits() -> Limits {
    Limits {
        cpu: 100,
        memory_size: 32 * MIB,
        timeout: 5,
    }
}

fn timeout(seconds: u32) -> Limits {
    Limits {
        timeout: seconds,
        ..limits()
    }
}

fn invocation(input: Option<Value>) -> Invocation {
    Invocation {
        execution_id: ExecutionId::new(),
        input: input.and_then(|v| ExecutionInput::from_request(&v)),
    }
}

async fn run(worker: &mut Box<dyn Worker>, input: Option<Value>) -> InvocationOutcome {
    worker.invoke(&invocation(input)).await.expect("invokes")
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_what_the_runtime_offers() {
    let fx = Fixture::new();
    let found = fx.runtime.check().await.expect("available");
    assert!(found.contains("WASI preview 1"), "{found}");
    assert!(found.contains("no filesystem"), "{found}");
}

#[tokio::test(flavor = "multi_thread")]
async fn input_on_stdin_output_on_stdout_log_on_stderr() {
    let fx = Fixture::new();
    let mut worker = fx.start(&guests::wat(guests::ECHO_WAT)).await;
    assert_eq!(worker.pid(), None, "no process behind a wasm worker");

    let ran = run(&mut worker, Some(json!({"name": "ridge", "n": [1, 2]}))).await;
    assert_eq!(ran.output, Ok(json!({"name": "ridge", "n": [1, 2]})));
    assert!(ran.logs.starts_with("Start execution: "), "{}", ran.logs);
    assert!(
        ran.logs.contains("\nhello from wat\nFinished execution: "),
        "{}",
        ran.logs
    );

    // Text that is not JSON arrives as a JSON string and comes back as one.
    let ran = run(&mut worker, Some(json!("free text"))).await;
    assert_eq!(ran.output, Ok(json!("free text")));
    // No input: empty stdin, empty stdout, a null output.
    let ran = run(&mut worker, None).await;
    assert_eq!(ran.output, Ok(Value::Null));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_execution_gets_a_fresh_instance() {
    let fx = Fixture::new();
    let mut worker = fx.start(&guests::wat(guests::COUNTER_WAT)).await;
    for _ in 0..5 {
        let ran = run(&mut worker, None).await;
        assert_eq!(ran.output, Ok(json!(1)), "globals and memory start afresh");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_fails_with_its_message_and_the_log_kept() {
    let fx = Fixture::new();
    let mut worker = fx.start(&guests::wat(guests::TRAP_WAT)).await;
    let ran = run(&mut worker, None).await;
    let message = ran.output.expect_err("trapped");
    assert!(
        message.starts_with("the module trapped:") && message.contains("unreachable"),
        "{message}"
    );
    assert!(ran.logs.contains("about to trap\n"), "{}", ran.logs);
    // The backtrace names the function that trapped.
    assert!(ran.logs.contains("wasm backtrace"), "{}", ran.logs);
    // The worker stays usable: the next execution is a new instance.
    assert!(run(&mut worker, None).await.output.is_err());
    assert!(!worker.hit_resource_limit());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_zero_exit_fails_with_the_status() {
    let fx = Fixture::new();
    let mut worker = fx.start(&guests::wat(guests::EXIT_WAT)).await;
    let ran = run(&mut worker, None).await;
    assert_eq!(
        ran.output,
        Err("the module exited with status 3".to_owned())
    );
    assert!(
        ran.logs.contains("giving up\nFinished execution"),
        "{}",
        ran.logs
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_without_host_calls_stops_at_the_timeout() {
    let fx = Fixture::new();
    let spin = guests::wat(guests::SPIN_WAT);
    let mut worker = fx.start_with(&spin, "main.main", timeout(1)).await;
    let started = Instant::now();
    let ran = run(&mut worker, None).await;
    let took = started.elapsed();
    assert_eq!(ran.output, Err(messages::TIMEOUT.to_owned()));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(!ran.logs.contains("Finished execution"), "{}", ran.logs);
}

/// What the engine does at its timeout: drop the call, then kill the worker. `kill` returns
/// only once the execution's thread is done, so a return within a short bound proves the
/// guest stopped rather than running on abandoned.
async fn abandon_then_kill(module: &[u8]) {
    let fx = Fixture::new();
    let mut worker = fx.start_with(module, "main.main", timeout(600)).await;
    let abandoned =
        tokio::time::timeout(Duration::from_millis(300), worker.invoke(&invocation(None))).await;
    assert!(abandoned.is_err(), "still running after 300 ms");
    let killing = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), worker.kill())
        .await
        .expect("kill returns once the guest stopped");
    assert!(
        killing.elapsed() < Duration::from_secs(1),
        "{:?}",
        killing.elapsed()
    );
    worker.kill().await; // idempotent
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_stops_a_spinning_guest() {
    abandon_then_kill(&guests::wat(guests::SPIN_WAT)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_stops_a_guest_waiting_in_a_host_call() {
    abandon_then_kill(&guests::wat(guests::SLEEP_WAT)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sleeping_guest_stops_at_the_timeout() {
    let fx = Fixture::new();
    let sleep = guests::wat(guests::SLEEP_WAT);
    let mut worker = fx.start_with(&sleep, "main.main", timeout(1)).await;
    let started = Instant::now();
    let ran = run(&mut worker, None).await;
    assert_eq!(ran.output, Err(messages::TIMEOUT.to_owned()));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_growth_past_memory_size_fails_cleanly() {
    let fx = Fixture::new();
    let mut worker = fx.start(&guests::wat(guests::GROW_WAT)).await;
    let ran = run(&mut worker, None).await;
    let message = ran.output.expect_err("failed");
    assert!(message.starts_with(messages::RESOURCE), "{message}");
    assert!(
        message.contains(&format!("{} bytes", 32 * MIB)),
        "{message}"
    );
    assert!(worker.hit_resource_limit());
    assert!(ran.logs.contains("memory_size"), "{}", ran.logs);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_whose_initial_memory_exceeds_the_limit_fails_as_such() {
    let fx = Fixture::new();
    // 1024 pages: 64 MiB at start, over the 32 MiB limit.
    let module = guests::wat("(module (memory 1024) (func (export \"_start\")))");
    let mut worker = fx.start(&module).await;
    let ran = run(&mut worker, None).await;
    let message = ran.output.expect_err("refused");
    assert!(message.starts_with(messages::RESOURCE), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reactor_runs_initialize_then_the_named_export() {
    let fx = Fixture::new();
    let reactor = guests::wat(guests::REACTOR_WAT);
    let mut worker = fx.start_with(&reactor, "main.handle", limits()).await;
    assert_eq!(run(&mut worker, None).await.output, Ok(json!("ready")));
}

async fn load_error(runtime: &WasmAdapter, spec: WorkerSpec) -> String {
    match runtime.start(&spec).await {
        Err(StartError::Load { message, .. }) => message,
        Err(other) => panic!("expected a load failure, got {other}"),
        Ok(_) => panic!("expected a load failure, got a worker"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_packages_fail_to_load_with_what_to_fix() {
    let fx = Fixture::new();
    let echo = guests::wat(guests::ECHO_WAT);

    let message = load_error(
        &fx.runtime,
        fx.spec(&[("readme.txt", b"hi")], "main.main", limits()),
    )
    .await;
    assert!(message.contains("no `main.wasm`"), "{message}");

    let message = load_error(
        &fx.runtime,
        fx.spec(&[("main.wasm", b"\0asm garbage")], "main.main", limits()),
    )
    .await;
    assert!(
        message.contains("`main.wasm` is not a valid WebAssembly module"),
        "{message}"
    );

    let imports =
        guests::wat("(module (import \"env\" \"secret\" (func)) (func (export \"_start\")))");
    let message = load_error(
        &fx.runtime,
        fx.spec(&[("main.wasm", &imports)], "main.main", limits()),
    )
    .await;
    assert!(
        message.contains("env::secret") && message.contains("WASI preview 1"),
        "{message}"
    );

    let message = load_error(
        &fx.runtime,
        fx.spec(&[("main.wasm", &echo)], "main.handler", limits()),
    )
    .await;
    assert!(
        message.contains("exports no function `handler`"),
        "{message}"
    );

    let typed = guests::wat("(module (func (export \"_start\") (param i32)))");
    let message = load_error(
        &fx.runtime,
        fx.spec(&[("main.wasm", &typed)], "main.main", limits()),
    )
    .await;
    assert!(message.contains("takes no parameters"), "{message}");

    // A module under another name is found by the entry, or as the only one.
    let spec = fx.spec(&[("lib/echo.wasm", &echo)], "lib.echo.main", limits());
    assert!(fx.runtime.start(&spec).await.is_ok());
    let spec = fx.spec(&[("upload.wasm", &echo)], "main.main", limits());
    assert!(fx.runtime.start(&spec).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn compiled_modules_are_cached_and_a_damaged_cache_is_rebuilt() {
    // The disk cache alone: no module kept in memory between workers.
    let fx = Fixture::with(|c| c.module_memory = 0);
    let module = guests::wat(guests::ECHO_WAT);
    let spec = fx.spec(&[("main.wasm", &module)], "main.main", limits());
    fx.runtime.start(&spec).await.expect("starts");
    let cached = fx.cached_files();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].starts_with(&format!("{}-v0-", spec.function_id)),
        "{cached:?}"
    );
    assert!(cached[0].ends_with(".cwasm"), "{cached:?}");

    // A second worker loads the cached file: the cache is unchanged.
    let path = fx.cache.path().join(&cached[0]);
    let modified = std::fs::metadata(&path)
        .expect("stat")
        .modified()
        .expect("mtime");
    let mut worker = fx
        .runtime
        .start(&spec)
        .await
        .expect("starts from the cache");
    assert_eq!(
        run(&mut worker, Some(json!([1]))).await.output,
        Ok(json!([1]))
    );
    assert_eq!(
        std::fs::metadata(&path)
            .expect("stat")
            .modified()
            .expect("mtime"),
        modified
    );

    // A file wasmtime refuses is compiled again and replaced.
    std::fs::write(&path, b"not a compiled module").expect("damage");
    let mut worker = fx.runtime.start(&spec).await.expect("recompiles");
    assert_eq!(run(&mut worker, Some(json!(7))).await.output, Ok(json!(7)));
    assert_ne!(
        std::fs::read(&path).expect("read"),
        b"not a compiled module"
    );
    assert_eq!(fx.cached_files().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_module_is_kept_in_memory_for_the_next_worker_within_its_budget() {
    let module = guests::wat(guests::ECHO_WAT);
    let fx = Fixture::new();
    let spec = fx.spec(&[("main.wasm", &module)], "main.main", limits());
    fx.runtime.start(&spec).await.expect("starts").kill().await;
    // With its package file and its compiled file gone, only a kept module can start it.
    std::fs::remove_file(spec.package_dir.join("main.wasm")).expect("rm module");
    std::fs::remove_dir_all(fx.cache.path()).expect("rm cache");
    let mut worker = fx.runtime.start(&spec).await.expect("starts from memory");
    assert_eq!(
        run(&mut worker, Some(json!([2]))).await.output,
        Ok(json!([2]))
    );
    // Kept per entry too: two exports of one package each run their own.
    let two = guests::wat(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write"
            (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "\"a\"")
          (data (i32.const 128) "\"b\"")
          (func (export "a")
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const 3))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func (export "b")
            (i32.store (i32.const 0) (i32.const 128))
            (i32.store (i32.const 4) (i32.const 3))
            (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    );
    let a = fx.spec(&[("main.wasm", &two)], "main.a", limits());
    let b = WorkerSpec {
        entry: Entry::try_from("main.b".to_owned()).expect("valid entry"),
        ..a.clone()
    };
    for (spec, expected) in [(&a, "a"), (&b, "b"), (&a, "a")] {
        let mut worker = fx.runtime.start(spec).await.expect("starts");
        assert_eq!(run(&mut worker, None).await.output, Ok(json!(expected)));
        worker.kill().await;
    }

    // A budget smaller than the module keeps nothing.
    let tight = Fixture::with(|c| c.module_memory = 1024);
    let spec = tight.spec(&[("main.wasm", &module)], "main.main", limits());
    tight
        .runtime
        .start(&spec)
        .await
        .expect("starts")
        .kill()
        .await;
    std::fs::remove_file(spec.package_dir.join("main.wasm")).expect("rm module");
    std::fs::remove_dir_all(tight.cache.path()).expect("rm cache");
    let message = load_error(&tight.runtime, spec).await;
    assert!(
        message.contains("main.wasm"),
        "loaded from disk again: {message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_filesystem_unless_a_scratch_directory_is_granted() {
    const WRITE_TMP: &str = r#"
#include <stdio.h>
int main(void) {
    FILE *f = fopen("/tmp/note.txt", "w");
    if (!f) { printf("\"no filesystem\""); return 0; }
    fputs("kept?", f);
    fclose(f);
    f = fopen("/tmp/note.txt", "r");
    char buf[16] = {0};
    fread(buf, 1, sizeof buf - 1, f);
    printf("\"%s\"", buf);
    return 0;
}
"#;
    let module = guests::c(WRITE_TMP).expect("compiles");
    let fx = Fixture::new();
    let mut worker = fx.start(&module).await;
    assert_eq!(
        run(&mut worker, None).await.output,
        Ok(json!("no filesystem"))
    );

    let scratch = tempfile::tempdir().expect("temp dir");
    let root = scratch.path().to_owned();
    let fx = Fixture::with(|c| c.scratch_dir = Some(root));
    let mut worker = fx.start(&module).await;
    assert_eq!(run(&mut worker, None).await.output, Ok(json!("kept?")));
    assert!(
        files(scratch.path()).is_empty(),
        "removed after the execution"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_c_function_reads_json_and_writes_json() {
    let fx = Fixture::new();
    let module = guests::c(guests::HELLO_C).expect("compiles");
    let mut worker = fx.start(&module).await;
    let ran = run(&mut worker, Some(json!({"name": "ridge"}))).await;
    assert_eq!(
        ran.output,
        Ok(json!({"greeting": "hello, ridge", "bytes": 16}))
    );
    assert!(ran.logs.contains("received 16 bytes\n"), "{}", ran.logs);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_c_function_that_exhausts_memory_fails_cleanly() {
    let fx = Fixture::new();
    let module = guests::c(guests::HOG_C).expect("compiles");
    let mut worker = fx.start(&module).await;
    let ran = run(&mut worker, None).await;
    let message = ran.output.expect_err("failed");
    assert!(message.starts_with(messages::RESOURCE), "{message}");
    assert!(ran.logs.contains("malloc failed after"), "{}", ran.logs);
    // The next execution starts with a fresh, small memory and fails the same way.
    let again = run(&mut worker, None).await;
    assert!(again.logs.contains("malloc failed after"), "{}", again.logs);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_is_capped() {
    let fx = Fixture::new();
    let chatty = guests::c(
        "#include <stdio.h>\nint main(void){for(int i=0;i<10000;i++)fputs(\"0123456789\",stderr);puts(\"\\\"done\\\"\");return 0;}",
    )
    .expect("compiles");
    let mut worker = fx.start(&chatty).await;
    let ran = run(&mut worker, None).await;
    assert_eq!(ran.output, Ok(json!("done")));
    assert!(
        ran.logs
            .contains("[ridge: output truncated, 95904 bytes over the 4096-byte limit]"),
        "{}",
        ran.logs
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stdout_past_the_result_cap_fails_and_is_never_parsed() {
    let fx = Fixture::new();
    let spec = WorkerSpec {
        result_cap: 100,
        ..fx.spec(
            &[("main.wasm", &guests::wat(guests::ECHO_WAT))],
            "main.main",
            limits(),
        )
    };
    let mut worker = fx.runtime.start(&spec).await.expect("worker starts");
    let fits = run(&mut worker, Some(json!({"s": "x".repeat(50)}))).await;
    assert_eq!(fits.output, Ok(json!({"s": "x".repeat(50)})));
    let over = run(&mut worker, Some(json!({"s": "x".repeat(1000)}))).await;
    assert_eq!(
        over.output,
        Err("function output is too large: the module wrote 1008 bytes to stdout, over the result limit of 100 bytes".to_owned())
    );
}

/// CPU time this process has used so far (every thread: the guests run on blocking threads).
fn process_cpu() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .expect("getrusage");
    let time = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(t.tv_sec()).expect("seconds"))
            + Duration::from_micros(u64::try_from(t.tv_usec()).expect("micros"))
    };
    time(usage.user_time()) + time(usage.system_time())
}

#[tokio::test(flavor = "multi_thread")]
async fn spinning_guests_use_no_more_than_their_cpu_and_still_stop_at_the_timeout() {
    let fx = Fixture::new();
    let spin = guests::wat(guests::SPIN_WAT);
    let tenth = Limits {
        cpu: 100,
        ..timeout(2)
    };
    let mut a = fx.start_with(&spin, "main.main", tenth).await;
    let mut b = fx.start_with(&spin, "main.main", tenth).await;
    let before = process_cpu();
    let started = Instant::now();
    let (ran_a, ran_b) = tokio::join!(run(&mut a, None), run(&mut b, None));
    let ran = [ran_a, ran_b];
    let (used, took) = (process_cpu() - before, started.elapsed());
    for r in &ran {
        assert_eq!(r.output, Err(messages::TIMEOUT.to_owned()));
    }
    assert!(
        took < Duration::from_secs(4),
        "paused guests still end at the timeout: {took:?}"
    );
    // Two guests at a tenth of a core for 2 s use about 0.4 s; unchecked they spin 2 s each.
    assert!(
        used < Duration::from_millis(1200),
        "two spinning guests with cpu=100 used {used:?} of CPU in {took:?}"
    );
}

/// An execution starts on the async thread that asked for it; one still running at its first
/// epoch tick leaves it there. On a single-threaded runtime, a spinning guest that kept the
/// thread would stop every other task until its timeout.
#[tokio::test]
async fn a_spinning_guest_leaves_the_async_thread_after_its_first_tick() {
    let fx = Fixture::new();
    let spin = guests::wat(guests::SPIN_WAT);
    let whole_core = Limits {
        cpu: 1000,
        ..timeout(1)
    };
    let mut worker = fx.start_with(&spin, "main.main", whole_core).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let ticker = async {
        let mut ticks = 0_u32;
        while !done.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            ticks += 1;
        }
        ticks
    };
    let guest = async {
        let ran = run(&mut worker, None).await;
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        ran
    };
    let (ticks, ran) = tokio::join!(ticker, guest);
    assert_eq!(ran.output, Err(messages::TIMEOUT.to_owned()));
    // About 200 ticks of 5 ms in the guest's second; none if it held the thread throughout.
    assert!(ticks >= 50, "the runtime's other task ran {ticks} times");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_module_and_a_giant_function_are_refused_before_compiling() {
    let fx = Fixture::with(|c| c.max_module_size = 64);
    let echo = guests::wat(guests::ECHO_WAT);
    let spec = fx.spec(&[("main.wasm", &echo)], "main.main", limits());
    let Err(StartError::Load { message, .. }) = fx.runtime.start(&spec).await else {
        panic!("a module over max_module_size starts");
    };
    assert!(
        message.contains("main.wasm") && message.contains("more than the 64 bytes"),
        "{message}"
    );
    assert!(fx.cached_files().is_empty(), "nothing was compiled");

    let fx = Fixture::new();
    let nops = "nop ".repeat(ridge_runtime_wasm::MAX_FUNCTION_SIZE + 1);
    let giant = guests::wat(&format!("(module (func (export \"_start\") {nops}))"));
    let spec = fx.spec(&[("main.wasm", &giant)], "main.main", limits());
    let Err(StartError::Load { message, .. }) = fx.runtime.start(&spec).await else {
        panic!("a module with a giant function starts");
    };
    assert!(
        message.contains("split it into smaller functions"),
        "{message}"
    );
    assert!(fx.cached_files().is_empty(), "nothing was compiled");
}
