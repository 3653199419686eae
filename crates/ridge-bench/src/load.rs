//! The load generator: a fixed number of client tasks, each sending one request at a time,
//! bounded by a request count and a duration. Latency is measured on the client's side, from
//! just before the request is sent to the end of its checked response.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// Runs `call` under `load`. `call` sends one request and checks its answer; an `Err` counts as
/// an error and is not part of the latencies.
pub async fn run<F, Fut>(load: Load, call: F) -> LoadResult
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let call = Arc::new(call);
    if !load.warmup.is_zero() {
        phase(load.concurrency, load.warmup, u64::MAX, call.clone()).await;
    }
    phase(load.concurrency, load.duration, load.max_requests, call).await
}

async fn phase<F, Fut>(concurrency: usize, duration: Duration, max: u64, call: Arc<F>) -> LoadResult
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let call = call.clone();
        let issued = issued.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
                let t = Instant::now();
                match call().await {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies, errors, first_error)
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
            Ok((latencies, errors, first_error)) => {
                result.latencies.extend(latencies);
                result.errors += errors;
                if result.first_error.is_none() {
                    result.first_error = first_error;
                }
            }
            Err(e) => {
                result.errors += 1;
                result
                    .first_error
                    .get_or_insert_with(|| format!("load task failed: {e}"));
            }
        }
    }
    result.elapsed = start.elapsed();
    result
}

/// Runs every future in `calls` at once, at most `concurrency` in flight, and times each one.
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
