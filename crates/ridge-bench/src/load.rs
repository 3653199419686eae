//! The load generator: a fixed number of clients, each sending one request at a time over its
//! own connection (`client.rs`), either one request again and again for a while (`run`) or each
//! of a set of requests once (`each_once`); and bursts of futures run at once (`all_at_once`).
//! Latency is measured on the client's side, from just before the request is sent to the end
//! of its checked response.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::client::{Client, Request};
use crate::stats::Latency;

/// How much load to apply.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    /// Unrecorded requests first (warm connections, warm workers).
    pub warmup: Duration,
    pub duration: Duration,
    /// Stop after this many recorded requests even if time remains.
    pub max_requests: u64,
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub latencies: Vec<Duration>,
    pub errors: u64,
    /// The first error seen, to explain a non-zero count.
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl LoadResult {
    pub fn requests(&self) -> u64 {
        self.latencies.len() as u64 + self.errors
    }

    /// Successful requests per second over the recorded window.
    pub fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn latency(&self) -> Option<Latency> {
        Latency::of(&self.latencies)
    }
}

/// Sends `request` under `load`: `load.concurrency` clients, each with its own kept-alive
/// connection, one request in flight each. A failed or refused answer counts as an error and
/// is not part of the latencies.
pub async fn run(load: Load, request: Request) -> LoadResult {
    let requests = Arc::new(vec![request]);
    if !load.warmup.is_zero() {
        phase(load.concurrency, load.warmup, u64::MAX, requests.clone()).await;
    }
    phase(load.concurrency, load.duration, load.max_requests, requests).await
}

/// Sends the one request in `requests` again and again, until `duration` has passed or `max`
/// requests were sent.
async fn phase(
    concurrency: usize,
    duration: Duration,
    max: u64,
    requests: Arc<Vec<Request>>,
) -> LoadResult {
    let deadline = Instant::now() + duration;
    let issued = AtomicU64::new(0);
    let next: Next = Arc::new(move || {
        (Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max).then_some(0)
    });
    drive(concurrency, requests, next).await
}

/// Sends every request in `requests` once, at most `concurrency` at a time (one client each,
/// taking the next request not yet sent when it is free), and times each one.
pub async fn each_once(concurrency: usize, requests: Vec<Request>) -> LoadResult {
    let count = requests.len();
    let taken = AtomicUsize::new(0);
    let next: Next = Arc::new(move || {
        let i = taken.fetch_add(1, Ordering::Relaxed);
        (i < count).then_some(i)
    });
    drive(concurrency.min(count), Arc::new(requests), next).await
}

/// Which request a client sends next (an index into the run's requests), or `None` when the
/// run is over for it.
type Next = Arc<dyn Fn() -> Option<usize> + Send + Sync>;

/// What one load thread measured: its clients' latencies, errors, first error.
type Measured = (Vec<Duration>, u64, Option<String>);

/// Runs `concurrency` clients until `next` says the run is over.
///
/// The clients run on threads of their own, at most one per core, each with a single-threaded
/// runtime (as `wrk` spreads its connections over its threads): a client's request and its
/// connection never wait on another thread, so the latencies are the server's and the
/// kernel's, not the client scheduler's.
async fn drive(concurrency: usize, requests: Arc<Vec<Request>>, next: Next) -> LoadResult {
    let concurrency = concurrency.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = concurrency.min(cores);
    let start = Instant::now();
    let mut results = Vec::with_capacity(threads);
    for t in 0..threads {
        // Clients dealt out as evenly as they go.
        let clients = concurrency / threads + usize::from(t < concurrency % threads);
        let (requests, next) = (requests.clone(), next.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<Measured>();
        let spawned = std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                let measured = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(load_thread(clients, requests, next)),
                    Err(e) => (
                        Vec::new(),
                        1,
                        Some(format!("cannot start a load thread's runtime: {e}")),
                    ),
                };
                let _ = tx.send(measured);
            });
        results.push(
            spawned
                .map(|_| rx)
                .map_err(|e| format!("cannot start a load thread: {e}")),
        );
    }
    let mut result = LoadResult {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for thread in results {
        let (latencies, errors, first_error) = match thread {
            Ok(rx) => rx
                .await
                .unwrap_or_else(|_| (Vec::new(), 1, Some("a load thread panicked".to_owned()))),
            Err(e) => (Vec::new(), 1, Some(e)),
        };
        result.latencies.extend(latencies);
        result.errors += errors;
        if result.first_error.is_none() {
            result.first_error = first_error;
        }
    }
    result.elapsed = start.elapsed();
    result
}

/// One load thread: `clients` clients, each sending one request at a time while `next` gives
/// it one.
async fn load_thread(clients: usize, requests: Arc<Vec<Request>>, next: Next) -> Measured {
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (requests, next) = (requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut client = Client::default();
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                while let Some(request) = next().and_then(|i| requests.get(i)) {
                    let t = Instant::now();
                    match client.call(request).await {
                        Ok(()) => latencies.push(t.elapsed()),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let mut measured: Measured = (Vec::new(), 0, None);
    for task in tasks {
        match task.await {
            Ok((latencies, errors, first_error)) => {
                measured.0.extend(latencies);
                measured.1 += errors;
                if measured.2.is_none() {
                    measured.2 = first_error;
                }
            }
            Err(e) => {
                measured.1 += 1;
                measured
                    .2
                    .get_or_insert_with(|| format!("load task failed: {e}"));
            }
        }
    }
    measured
}

/// Runs every future in `calls` at once, at most `concurrency` in flight, and times each one.
/// The burst of scenario 5 sends its calls through reqwest with it: its pool lets the second
/// burst reuse the first one's thousand connections, where [`each_once`]'s clients would open
/// theirs again (docs/benchmarks.md, section (13)).
pub async fn all_at_once<Fut>(concurrency: usize, calls: Vec<Fut>) -> LoadResult
where
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(calls.len());
    for call in calls {
        let limit = limit.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.map_err(|e| e.to_string())?;
            let t = Instant::now();
            call.await.map(|()| t.elapsed())
        }));
    }
    let mut result = LoadResult {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        match task.await {
            Ok(Ok(d)) => result.latencies.push(d),
            Ok(Err(e)) => {
                result.errors += 1;
                result.first_error.get_or_insert(e);
            }
            Err(e) => {
                result.errors += 1;
                result
                    .first_error
                    .get_or_insert_with(|| format!("task failed: {e}"));
            }
        }
    }
    result.elapsed = start.elapsed();
    result
}
