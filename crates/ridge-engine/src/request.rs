//! What a caller asks of [`Engine::start`](crate::Engine::start), the one way every execution
//! begins, and what it gets back.

use std::fmt;

use ridge_core::{
    EventTriggerId, Execution, ExecutionInput, Function, JobId, ProjectId, Target, WebhookId,
};
use tokio::task::JoinHandle;

use crate::error::EngineError;

/// A new execution, from any origin.
#[derive(Debug, Clone)]
pub struct ExecutionRequest {
    /// The project the target is named in: an alias is looked up there.
    pub project: ProjectId,
    pub target: RunTarget,
    pub input: Option<ExecutionInput>,
    pub description: Option<String>,
    /// Whether the caller waits for the result (see [`Started::finished`]).
    pub sync: bool,
    pub origin: Origin,
}

/// What an execution runs.
#[derive(Debug, Clone)]
pub enum RunTarget {
    /// As named: an alias, or a function id and version, read from the store now.
    Named(Target),
    /// A function the caller has already read (to check access to it), and a version of it:
    /// handed on so that it is not read again.
    Loaded { function: Function, version: i64 },
    /// A function read with its runtime and its project's quota overrides in one query
    /// (`Store::get_function_to_run`) by a caller that checked access to it, and a version of
    /// it: none of them is read again.
    Prepared {
        to_run: Box<ridge_store::FunctionToRun>,
        version: i64,
    },
}

impl From<Target> for RunTarget {
    fn from(target: Target) -> Self {
        RunTarget::Named(target)
    }
}

/// Who asked for an execution. Admission is the same for every origin; the origin names the
/// execution in the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `POST /v1/executions`.
    Api,
    /// `POST /v1/webhooks/{id}/invoke`.
    Webhook { id: WebhookId },
    /// A job's tick.
    Job { id: JobId },
    /// A message delivered to an event trigger.
    EventTrigger { id: EventTriggerId },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Api => f.write_str("api"),
            Origin::Webhook { id } => write!(f, "webhook {id}"),
            Origin::Job { id } => write!(f, "job {id}"),
            Origin::EventTrigger { id } => write!(f, "event trigger {id}"),
        }
    }
}

/// A recorded execution, submitted to run.
#[derive(Debug)]
pub struct Started {
    /// The execution as recorded (`running`), or, for a sync execution that ran at once on a
    /// warm worker, as it finished.
    pub execution: Execution,
    finished: Finished,
}

/// How a [`Started`] execution ends.
#[derive(Debug)]
enum Finished {
    /// In the dispatcher's task.
    Running(JoinHandle<Execution>),
    /// Already: a sync execution on a warm worker runs in the task that started it.
    Done,
}

impl Started {
    pub(crate) fn new(execution: Execution, finished: JoinHandle<Execution>) -> Self {
        Self {
            execution,
            finished: Finished::Running(finished),
        }
    }

    /// An execution that has finished already, as stored.
    pub(crate) fn done(execution: Execution) -> Self {
        Self {
            execution,
            finished: Finished::Done,
        }
    }

    /// Waits until the execution has finished and returns it as stored then. Dropping a
    /// `Started` instead does not stop the execution (async callers do that).
    pub async fn finished(self) -> Result<Execution, EngineError> {
        match self.finished {
            Finished::Running(task) => task.await.map_err(EngineError::Lost),
            Finished::Done => Ok(self.execution),
        }
    }
}
