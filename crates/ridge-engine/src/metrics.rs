//! Prometheus metrics of the engine, encoded by `prometheus-client`. Labels are bounded: function
//! ids and statuses, never execution ids.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabels {
    pub function: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FunctionLabels {
    pub function: String,
}

/// A function's keep-alive window and why it is what it is (`basis`: fixed, learning,
/// out_of_bounds, no_pattern or learned).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KeepAliveLabels {
    pub function: String,
    pub basis: String,
}

/// A gauge of seconds.
pub(crate) type Seconds = Gauge<f64, std::sync::atomic::AtomicU64>;

pub(crate) struct Metrics {
    registry: Registry,
    pub executions: Family<StatusLabels, Counter>,
    pub duration: Family<FunctionLabels, Histogram>,
    pub queue_wait: Histogram,
    pub cold_starts: Family<FunctionLabels, Counter>,
    pub cold_start_seconds: Histogram,
    pub warm_workers: Family<FunctionLabels, Gauge>,
    pub queue_depth: Gauge,
    pub capacity_used: Gauge,
    pub write_batch_size: Histogram,
    pub executions_purged: Counter,
    pub keep_alive_seconds: Family<KeepAliveLabels, Seconds>,
    pub prewarm_seconds: Family<KeepAliveLabels, Seconds>,
    pub prewarms: Family<FunctionLabels, Counter>,
    pub throttled_starts: Family<FunctionLabels, Counter>,
}

fn seconds_histogram() -> Histogram {
    // 0.5 ms .. ~130 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 19))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ridge");
        let executions = Family::<StatusLabels, Counter>::default();
        registry.register(
            "executions",
            "Executions finished, by function and final status",
            executions.clone(),
        );
        let duration = Family::<FunctionLabels, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "execution_duration_seconds",
            "Time the function ran, by function",
            duration.clone(),
        );
        let queue_wait = seconds_histogram();
        registry.register(
            "queue_wait_seconds",
            "Time executions waited for a worker",
            queue_wait.clone(),
        );
        let cold_starts = Family::<FunctionLabels, Counter>::default();
        registry.register(
            "cold_starts",
            "Workers started for an execution, by function",
            cold_starts.clone(),
        );
        let cold_start_seconds = seconds_histogram();
        registry.register(
            "cold_start_seconds",
            "Time to start a worker and load the function",
            cold_start_seconds.clone(),
        );
        let warm_workers = Family::<FunctionLabels, Gauge>::default();
        registry.register(
            "warm_workers",
            "Live workers, by function",
            warm_workers.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Executions waiting for a worker",
            queue_depth.clone(),
        );
        let capacity_used = Gauge::default();
        registry.register(
            "worker_memory_reserved_bytes",
            "Sum of memory_size over live workers (the host-wide budget in use)",
            capacity_used.clone(),
        );
        // 1 .. 512 writes.
        let write_batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "store_write_batch_size",
            "Execution writes (create, start, finish) committed together in one store transaction",
            write_batch_size.clone(),
        );
        let executions_purged = Counter::default();
        registry.register(
            "executions_purged",
            "Finished executions deleted by retention (by age or by count per function)",
            executions_purged.clone(),
        );
        let keep_alive_seconds = Family::<KeepAliveLabels, Seconds>::default();
        registry.register(
            "keep_alive_seconds",
            "How long after its last call a function keeps a worker (pre-warm time included), by function and the window's basis",
            keep_alive_seconds.clone(),
        );
        let prewarm_seconds = Family::<KeepAliveLabels, Seconds>::default();
        registry.register(
            "prewarm_seconds",
            "How long after its last call a worker is pre-warmed (0: kept from the call on), by function and the window's basis",
            prewarm_seconds.clone(),
        );
        let prewarms = Family::<FunctionLabels, Counter>::default();
        registry.register(
            "prewarms",
            "Workers pre-warmed by the keep-alive policy ahead of an expected call, by function",
            prewarms.clone(),
        );
        let throttled_starts = Family::<FunctionLabels, Counter>::default();
        registry.register(
            "throttled_starts",
            "Workers asked for because the function's workers were held at their CPU quota while its calls kept coming, by function",
            throttled_starts.clone(),
        );
        Self {
            registry,
            throttled_starts,
            keep_alive_seconds,
            prewarm_seconds,
            prewarms,
            executions,
            duration,
            queue_wait,
            cold_starts,
            cold_start_seconds,
            warm_workers,
            queue_depth,
            capacity_used,
            write_batch_size,
            executions_purged,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The classic Prometheus text format (`text/plain; version=0.0.4`) of an OpenMetrics text
/// exposition, for scrapers that do not ask for OpenMetrics: no `# EOF` and no `# UNIT`, a
/// counter's family named as its samples (`x_total`), and no `_created` samples.
pub fn openmetrics_to_classic(openmetrics: &str) -> String {
    let mut counters: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some(name) = rest.strip_suffix(" counter")
        {
            counters.push(name);
            out.push_str(&format!("# TYPE {name}_total counter\n"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            if counters.contains(&name) || is_counter_family(openmetrics, name) {
                out.push_str(&format!("# HELP {name}_total{}\n", &rest[name.len()..]));
                continue;
            }
        }
        let sample = line.split(['{', ' ']).next().unwrap_or_default();
        if !line.starts_with('#')
            && let Some(family) = sample.strip_suffix("_created")
            && counters.contains(&family)
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Whether `name` is declared a counter anywhere in the exposition (its `# HELP` comes
/// before its `# TYPE`).
fn is_counter_family(openmetrics: &str, name: &str) -> bool {
    openmetrics.contains(&format!("# TYPE {name} counter\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_format_names_counters_as_their_samples_and_has_no_eof() {
        let metrics = Metrics::new();
        metrics
            .executions
            .get_or_create(&StatusLabels {
                function: "f".into(),
                status: "success".into(),
            })
            .inc();
        metrics.queue_depth.set(2);
        let open = metrics.encode();
        assert!(open.contains("# TYPE ridge_executions counter"), "{open}");
        assert!(open.ends_with("# EOF\n"), "{open}");

        let classic = openmetrics_to_classic(&open);
        assert!(
            classic.contains("# TYPE ridge_executions_total counter\n"),
            "{classic}"
        );
        assert!(
            classic.contains("# HELP ridge_executions_total "),
            "{classic}"
        );
        assert!(
            classic.contains("ridge_executions_total{function=\"f\",status=\"success\"} 1\n"),
            "{classic}"
        );
        assert!(classic.contains("# TYPE ridge_queue_depth gauge\nridge_queue_depth 2\n"));
        assert!(
            !classic.contains("# EOF") && !classic.contains("# UNIT"),
            "{classic}"
        );
        assert!(!classic.contains("_created"), "{classic}");
    }
}
