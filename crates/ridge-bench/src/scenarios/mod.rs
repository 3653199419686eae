//! The scenarios of issue 6, one file each, and what they share: the run's context, the server
//! configurations and the size of each run (`--quick` or full).

mod async_exec;
mod cold;
mod events;
mod isolation;
mod keepalive;
mod noisy;
mod runtimes;
mod scale;
mod stores;
mod warm;
mod wasm;

use std::time::Duration;

use tokio::sync::OnceCell;

use crate::report::{Row, Status};
use crate::server::Programs;

/// Most workers per function in the scale scenario: 1,000 concurrent executions over 100
/// functions start at most 200 Python processes instead of 1,000 on a small machine.
pub const SCALE_MAX_WORKERS: usize = 2;

/// What a scenario measured.
pub struct Outcome {
    pub status: Status,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn ran(rows: Vec<Row>, notes: Vec<String>) -> Self {
        Self {
            status: Status::Ran,
            rows,
            notes,
        }
    }

    /// [`Outcome::ran`], with a note when `errors` requests failed.
    pub fn ran_counting(rows: Vec<Row>, mut notes: Vec<String>, errors: u64) -> Self {
        if errors > 0 {
            notes.push(format!("{errors} request(s) failed; see the err column"));
        }
        Self::ran(rows, notes)
    }
}

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub warmup: Duration,
    /// Per concurrency level and target.
    pub warm_duration: Duration,
    pub warm_max_requests: u64,
    pub cold_functions: usize,
    pub async_executions: usize,
    pub scale_functions: usize,
    pub scale_executions: usize,
    pub scale_spread: usize,
    pub noisy_duration: Duration,
}

impl Budget {
    /// Scenario 1's load at `concurrency` clients.
    pub fn warm_load(&self, concurrency: usize) -> crate::load::Load {
        crate::load::Load {
            concurrency,
            warmup: self.warmup,
            duration: self.warm_duration,
            max_requests: self.warm_max_requests,
        }
    }

    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                warmup: Duration::from_millis(500),
                warm_duration: Duration::from_secs(3),
                warm_max_requests: 50_000,
                cold_functions: 30,
                async_executions: 2_000,
                scale_functions: 1_000,
                scale_executions: 1_000,
                scale_spread: 100,
                noisy_duration: Duration::from_secs(4),
            }
        } else {
            Self {
                warmup: Duration::from_secs(1),
                warm_duration: Duration::from_secs(10),
                warm_max_requests: 500_000,
                cold_functions: 100,
                async_executions: 10_000,
                scale_functions: 10_000,
                scale_executions: 1_000,
                scale_spread: 100,
                noisy_duration: Duration::from_secs(10),
            }
        }
    }
}

/// What every scenario gets.
pub struct Ctx {
    pub programs: Programs,
    pub quick: bool,
    pub budget: Budget,
    /// functions-framework's version, once it is installed.
    peer: OnceCell<String>,
}

impl Ctx {
    pub fn new(programs: Programs, quick: bool) -> Self {
        Self {
            programs,
            quick,
            budget: Budget::new(quick),
            peer: OnceCell::new(),
        }
    }

    pub fn peer_version(&self) -> Option<String> {
        self.peer.get().cloned()
    }

    pub fn set_peer_version(&self, v: String) {
        let _ = self.peer.set(v);
    }

    /// The server settings each scenario uses, for the record.
    pub fn describe_configs(&self) -> String {
        format!(
            "{}; defaults (max_workers_per_function 10, function_service_expiration 300 s) except: \
             scale uses \
             max_workers_per_function = {SCALE_MAX_WORKERS}; noisy neighbour uses \
             resource_limits.memory_size.max = 2 GiB so the hog's declared size is accepted",
            self.programs.backends.describe()
        )
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Scenario {
    Warm,
    Cold,
    Async,
    Scale,
    Isolation,
    Noisy,
    Runtimes,
    Stores,
    Events,
    KeepAlive,
}

impl Scenario {
    pub fn id(self) -> u8 {
        match self {
            Scenario::Warm => 1,
            Scenario::Cold => 3,
            Scenario::Async => 4,
            Scenario::Scale => 5,
            Scenario::Isolation => 6,
            Scenario::Noisy => 7,
            Scenario::Runtimes => 8,
            Scenario::Stores => 9,
            Scenario::Events => 10,
            Scenario::KeepAlive => 11,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Warm => "warm sync no-op: Ridge (1) vs functions-framework (2)",
            Scenario::Cold => "cold start",
            Scenario::Async => "async executions",
            Scenario::Scale => "scale",
            Scenario::Isolation => "cost of isolation",
            Scenario::Noisy => "noisy neighbour",
            Scenario::Runtimes => "Wasm and Node.js variants of 1 and 3",
            Scenario::Stores => "SQLite vs PostgreSQL (1 and 4), async on 1, 2 and 3 nodes",
            Scenario::Events => "event trigger: RabbitMQ messages consumed per second",
            Scenario::KeepAlive => {
                "keep-alive over a synthetic trace: fixed vs adaptive vs histogram (simulated)"
            }
        }
    }

    pub async fn run(self, ctx: &Ctx) -> anyhow::Result<Outcome> {
        match self {
            Scenario::Warm => warm::run(ctx).await,
            Scenario::Cold => cold::run(ctx).await,
            Scenario::Async => async_exec::run(ctx).await,
            Scenario::Scale => scale::run(ctx).await,
            Scenario::Isolation => isolation::run(ctx).await,
            Scenario::Noisy => noisy::run(ctx).await,
            Scenario::Runtimes => runtimes::run(ctx).await,
            Scenario::Stores => stores::run(ctx).await,
            Scenario::Events => events::run(ctx).await,
            Scenario::KeepAlive => keepalive::run(ctx).await,
        }
    }
}

/// Bytes as MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
