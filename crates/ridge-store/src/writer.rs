//! The writer: one task per store that owns the store's write connection and commits the
//! execution hot path (execution rows and the counters they bump) in groups. Both stores use
//! it; each supplies how a batch is applied ([`ApplyBatch`]: `sqlite::writer`,
//! `postgres::writer`).
//!
//! Callers send a [`Write`] and await their own answer. The task takes the first write waiting,
//! then every other write already queued (up to [`MAX_BATCH`]), applies them in one
//! transaction, commits once and answers each caller. There is no timer: a lone write is
//! committed at once, and the writes that arrive while a commit is under way form the next
//! batch, so batches grow with the load and an idle store adds no latency.
//!
//! A store whose batches can only wait all together ([`ApplyBatch::GATHER`]: SQLite) also has
//! the task, once it has a first write, let the tasks that are ready run (Tokio's `yield_now`,
//! again while each time brings more writes, at most [`MAX_YIELDS`] times) before it takes the
//! batch, so that the writes that a busy server's ready requests and executions are about to
//! send join it. Without it SQLite's writer, whose commits take microseconds, woke for each
//! write before the tasks behind it had run, and nine commits in ten of an async burst held one
//! write (docs/benchmarks.md, "async executions"). It gathers only while writes come together
//! (for [`GATHER_FOR`] after a batch that held several): with one request at a time, a yield
//! finds no task ready but wakes another of Tokio's threads for nothing.
//!
//! A store that is quiet skips the task. The hop to the task and back costs the two context
//! switches a write waits for when it comes alone, the commit itself only microseconds for
//! SQLite. So a store whose one applier is local work ([`ApplyBatch::INLINE`]: SQLite) has a
//! write commit on its caller's task, as a batch of one, when nothing is queued, no commit is
//! under way, none ended in the last [`QUIET_FOR`], and no batch held several writes in the
//! last [`GATHER_FOR`]: one request at a time. Writes that come faster than that go through the
//! task and form its batches, as before.
//!
//! A store may give the writer several appliers, each with a connection of its own (PostgreSQL
//! does; SQLite has one writer at a time and gives one). One batch is applied at a time: the
//! next applier takes its first write, then waits for the batch under way to commit, and
//! takes everything queued meanwhile, so that one commit (one flush of the database's log)
//! carries every write that arrived during the one before. Batches applied side by side would
//! split those writes between them, and each would wait for its own flush: measured on
//! PostgreSQL, four side by side flushed the log 0.66 times per sync execution at concurrency
//! 64, one at a time 0.26 times, with 1.7 times the throughput (docs/benchmarks.md). Only a
//! batch that has not committed after [`OVERTAKE_AFTER`] (waiting on a row another
//! transaction holds, such as a function being deleted with its executions) is overtaken: the
//! next applier then goes ahead on its own connection, so one stuck batch does not hold back
//! every write of the node.
//!
//! One write must not fail another. A failed compare-and-swap is not an error (it is answered
//! `false`, or no row for a finish). Each store shapes a batch so that a write's expected
//! failures (a missing function or version) are found before that write has changed anything,
//! so the batch carries on without it. Any other error (disk full, I/O, a busy database, a
//! duplicate id) rolls the batch back, and its writes are retried one transaction each, so that
//! only the write that fails sees the error.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::{Execution, ExecutionId, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::{Durability, ExecutionOutcome, Result, StoreError, WriteBatchObserver};

/// Most writes in one transaction. Large enough that a burst of a few hundred concurrent
/// executions commits in one or two transactions; small enough that one commit stays short.
const MAX_BATCH: usize = 256;

/// Writes waiting for the task; past this, callers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

/// How long the next applier waits for the batch under way before it applies its own beside
/// it: many times a commit's usual milliseconds, so only a batch that waits on another
/// transaction's lock is overtaken.
const OVERTAKE_AFTER: Duration = Duration::from_millis(20);

/// Most times the task lets ready tasks run before taking a batch, while each time brought
/// more writes.
const MAX_YIELDS: usize = 4;

/// How long after a batch that held more than one write the task gathers (lets ready tasks
/// run first). A server with one request at a time has no such batch: its writer does not
/// yield, which would cost a thread wake-up (a context switch) per write.
const GATHER_FOR: Duration = Duration::from_secs(1);

/// How long after the last commit a store with [`ApplyBatch::INLINE`] is quiet: a write that
/// comes later, with nothing queued, no commit under way and no batch of several writes in the
/// last [`GATHER_FOR`], commits on its caller's task. Shorter than the time between two
/// executions of one client (a warm WebAssembly execution through the API takes about 300 µs
/// here).
const QUIET_FOR: Duration = Duration::from_micros(100);

/// An execution row to insert: `running` with no logs yet, or one that finished before it was
/// recorded (a sync execution a warm worker answered at once), complete with its logs.
pub(crate) struct NewExecution {
    pub execution: Execution,
    pub logs: String,
}

/// One write of the hot path.
pub(crate) enum Write {
    CreateExecution(Box<NewExecution>),
    MarkStarted {
        id: ExecutionId,
        node: String,
        at: Timestamp,
        durability: Durability,
    },
    Finish {
        id: ExecutionId,
        outcome: Box<ExecutionOutcome>,
    },
}

impl Write {
    /// The execution the write is about.
    pub(crate) fn execution_id(&self) -> ExecutionId {
        match self {
            Write::CreateExecution(new) => new.execution.id,
            Write::MarkStarted { id, .. } | Write::Finish { id, .. } => *id,
        }
    }

    /// When the write may return: a finish is always flushed, and so is a finished execution's
    /// one record.
    pub(crate) fn durability(&self) -> Durability {
        match self {
            Write::CreateExecution(new) if new.execution.status.is_final() => Durability::Flushed,
            Write::CreateExecution(new) => Durability::before_finish(&new.execution),
            Write::MarkStarted { durability, .. } => *durability,
            Write::Finish { .. } => Durability::Flushed,
        }
    }
}

/// What one commit of `writes` needs: flushed as soon as one of them does.
pub(crate) fn batch_durability(writes: &[&Write]) -> Durability {
    if writes
        .iter()
        .all(|write| write.durability() == Durability::Deferred)
    {
        Durability::Deferred
    } else {
        Durability::Flushed
    }
}

/// What a write did: `Swapped(false)` and `Finished(None)` are compare-and-swaps that found
/// the row changed.
pub(crate) enum Done {
    Created,
    Swapped(bool),
    Finished(Option<Box<Execution>>),
}

impl Done {
    /// The row a finish wrote (other writes return none).
    fn into_row(self) -> Option<Execution> {
        match self {
            Done::Finished(row) => row.map(|row| *row),
            Done::Created | Done::Swapped(_) => None,
        }
    }
}

enum Message {
    Write {
        write: Write,
        reply: oneshot::Sender<Result<Done>>,
    },
    /// Commit what came before, close the connection, then acknowledge.
    Close(oneshot::Sender<()>),
}

/// The observer of batch sizes, replaceable after the store is open.
type Observer = Arc<RwLock<Option<WriteBatchObserver>>>;

/// A handle on the writer task; cheap to clone. The task ends when every handle is dropped or
/// on [`Writer::close`].
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Message>,
    observer: Observer,
    /// A quiet store's commit on the caller's task ([`ApplyBatch::INLINE`]).
    at_once: Option<Arc<dyn CommitAtOnce>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the task on the current Tokio runtime; it owns `appliers` (each with its
    /// connection) from now on. With several, each takes the next batch while the others
    /// commit theirs (see the module comment).
    pub(crate) fn spawn<A: ApplyBatch>(appliers: Vec<A>) -> Self {
        let (queue, messages) = mpsc::channel(QUEUE);
        let observer = Observer::default();
        let pace = Arc::new(Pace::default());
        let appliers: Vec<Shared<A>> = appliers
            .into_iter()
            .map(|applier| Arc::new(tokio::sync::Mutex::new(Some(applier))))
            .collect();
        let at_once = match appliers.as_slice() {
            [one] if A::INLINE => Some(Arc::new(Quiet {
                applier: one.clone(),
                observer: observer.clone(),
                pace: pace.clone(),
            }) as Arc<dyn CommitAtOnce>),
            _ => None,
        };
        tokio::spawn(run(appliers, messages, observer.clone(), pace));
        Self {
            queue,
            observer,
            at_once,
        }
    }

    pub(crate) fn observe(&self, observer: WriteBatchObserver) {
        *self
            .observer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(observer);
    }

    /// Inserts `execution` with `logs` (empty for a `running` one).
    pub(crate) async fn create_execution(&self, execution: &Execution, logs: &str) -> Result<()> {
        let new = NewExecution {
            execution: execution.clone(),
            logs: logs.to_owned(),
        };
        self.send(Write::CreateExecution(Box::new(new)))
            .await
            .map(|_| ())
    }

    pub(crate) async fn mark_started(
        &self,
        id: ExecutionId,
        node: &str,
        at: Timestamp,
        durability: Durability,
    ) -> Result<bool> {
        self.swap(Write::MarkStarted {
            id,
            node: node.to_owned(),
            at,
            durability,
        })
        .await
    }

    pub(crate) async fn finish(
        &self,
        id: ExecutionId,
        outcome: &ExecutionOutcome,
    ) -> Result<Option<Execution>> {
        let write = Write::Finish {
            id,
            outcome: Box::new(outcome.clone()),
        };
        Ok(self.send(write).await?.into_row())
    }

    /// Commits every write sent before, then closes the write connection. Later writes fail
    /// with [`StoreError::WriterStopped`].
    pub(crate) async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.queue.send(Message::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    async fn swap(&self, write: Write) -> Result<bool> {
        match self.send(write).await? {
            Done::Swapped(swapped) => Ok(swapped),
            Done::Created => Ok(true),
            Done::Finished(row) => Ok(row.is_some()),
        }
    }

    async fn send(&self, write: Write) -> Result<Done> {
        let write = match &self.at_once {
            // Nothing queued: this write would be the next batch's first.
            Some(at_once)
                if !self.queue.is_closed()
                    && self.queue.capacity() == self.queue.max_capacity() =>
            {
                match at_once.commit(write).await {
                    Ok(done) => return done,
                    Err(write) => write,
                }
            }
            _ => write,
        };
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Message::Write { write, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

/// How a store applies a batch of writes: the one part of the writer that differs by store.
#[async_trait]
pub(crate) trait ApplyBatch: Send + 'static {
    /// Whether the writer lets the tasks that are ready run before it takes a batch (see the
    /// module comment), so that the writes they are about to send join it. Right where a batch
    /// that waits holds back every write anyway: SQLite's, whose one writer waits only for the
    /// database's write lock. Not where a batch may wait on one row's lock and a write that
    /// joined it would wait with it (PostgreSQL's): there the writer takes what is queued.
    const GATHER: bool = false;

    /// Whether a write commits on its caller's task when the store is quiet (see the module
    /// comment): for a store with one applier whose batch is local work of microseconds
    /// (SQLite's). Its [`ApplyBatch::apply`] must leave the connection usable when the caller
    /// stops waiting at any of its awaits (a dropped request), as a task that is never dropped
    /// did not need to.
    const INLINE: bool = false;

    /// Applies every write of `writes` in one transaction and commits it: each write's own
    /// result (in order), or the database failure that rolled the whole transaction back. A
    /// write's own error (`FunctionNotFound`, `VersionNotFound`) must leave nothing of that
    /// write behind: the others commit.
    async fn apply(&mut self, writes: &[&Write]) -> Result<Vec<Result<Done>>>;

    /// Closes the write connection, after the last batch.
    async fn close(self);
}

type Pending = (Write, oneshot::Sender<Result<Done>>);

/// An applier, shared by its loop in the writer task and (a store with [`ApplyBatch::INLINE`])
/// the callers of a quiet store; `None` once closed.
type Shared<A> = Arc<tokio::sync::Mutex<Option<A>>>;

/// The pace of a store's commits: when the last one ended, and when one last held several
/// writes.
#[derive(Default)]
struct Pace(Mutex<Times>);

#[derive(Default)]
struct Times {
    ended: Option<Instant>,
    crowded: Option<Instant>,
}

impl Pace {
    fn times(&self) -> std::sync::MutexGuard<'_, Times> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A batch of `writes` is about to be applied.
    fn batch(&self, writes: usize) {
        if writes > 1 {
            self.times().crowded = Some(Instant::now());
        }
    }

    fn ended(&self) {
        self.times().ended = Some(Instant::now());
    }

    /// Whether writes have come together (a batch held several) in the last [`GATHER_FOR`].
    fn crowded(&self) -> bool {
        self.times()
            .crowded
            .is_some_and(|at| at.elapsed() < GATHER_FOR)
    }

    /// Whether a write that comes now comes alone: no commit ended in the last [`QUIET_FOR`],
    /// and writes have not come together in the last [`GATHER_FOR`] (on a loaded server the
    /// first write after a pause would otherwise commit alone, ahead of the batch behind it).
    fn quiet(&self) -> bool {
        let times = self.times();
        times.ended.is_none_or(|at| at.elapsed() >= QUIET_FOR)
            && times.crowded.is_none_or(|at| at.elapsed() >= GATHER_FOR)
    }
}

/// A commit on the caller's task, when the store is quiet.
#[async_trait]
trait CommitAtOnce: Send + Sync {
    /// Commits `write` as a batch of one, or gives it back when the store is not quiet (a
    /// commit under way or just ended) for the writer task to take.
    async fn commit(&self, write: Write) -> std::result::Result<Result<Done>, Write>;
}

/// The one applier of a store with [`ApplyBatch::INLINE`], as its callers see it.
struct Quiet<A> {
    applier: Shared<A>,
    observer: Observer,
    pace: Arc<Pace>,
}

#[async_trait]
impl<A: ApplyBatch> CommitAtOnce for Quiet<A> {
    async fn commit(&self, write: Write) -> std::result::Result<Result<Done>, Write> {
        if !self.pace.quiet() {
            return Err(write);
        }
        let Ok(mut applier) = self.applier.try_lock() else {
            return Err(write);
        };
        let Some(applier) = applier.as_mut() else {
            return Ok(Err(StoreError::WriterStopped));
        };
        let (reply, answer) = oneshot::channel();
        let mut batch = vec![(write, reply)];
        commit(applier, &mut batch, &self.observer).await;
        self.pace.ended();
        Ok(answer.await.unwrap_or(Err(StoreError::WriterStopped)))
    }
}

async fn run<A: ApplyBatch>(
    appliers: Vec<Shared<A>>,
    messages: mpsc::Receiver<Message>,
    observer: Observer,
    pace: Arc<Pace>,
) {
    let messages = Arc::new(tokio::sync::Mutex::new(messages));
    let (applying, _) = watch::channel(0_usize);
    let mut workers = tokio::task::JoinSet::new();
    for applier in appliers {
        workers.spawn(work(
            applier,
            messages.clone(),
            applying.clone(),
            observer.clone(),
            pace.clone(),
        ));
    }
    while let Some(ended) = workers.join_next().await {
        if let Ok(Some(ack)) = ended {
            let _ = ack.send(());
        }
    }
}

/// One applier's loop: takes a batch from the shared queue (holding it only while taking),
/// commits it, and again, until the queue is closed; returns the acknowledgement of a
/// [`Message::Close`] it took. `applying` counts the batches being applied (see the module
/// comment).
async fn work<A: ApplyBatch>(
    applier: Shared<A>,
    messages: Arc<tokio::sync::Mutex<mpsc::Receiver<Message>>>,
    applying: watch::Sender<usize>,
    observer: Observer,
    pace: Arc<Pace>,
) -> Option<oneshot::Sender<()>> {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    let mut closing = None;
    loop {
        {
            let mut messages = messages.lock().await;
            let Some(first) = messages.recv().await else {
                break;
            };
            if A::GATHER && pace.crowded() {
                let_ready_tasks_send(&messages).await;
            }
            // The writes that come while the batch under way commits join this one.
            let mut others = applying.subscribe();
            let _ = tokio::time::timeout(OVERTAKE_AFTER, others.wait_for(|n| *n == 0)).await;
            let mut next = Some(first);
            while let Some(message) = next.take() {
                match message {
                    Message::Write { write, reply } => batch.push((write, reply)),
                    Message::Close(ack) => {
                        // Later sends fail; what is queued still commits, by any applier.
                        messages.close();
                        closing = Some(ack);
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = messages.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                applying.send_modify(|n| *n += 1);
            }
        }
        pace.batch(batch.len());
        if !batch.is_empty() {
            // Waits for a quiet store's commit on a caller's task, if one is under way.
            match applier.lock().await.as_mut() {
                Some(applier) => commit(applier, &mut batch, &observer).await,
                // Taken only once this loop has ended; its callers would see `WriterStopped`.
                None => batch.clear(),
            }
            pace.ended();
            applying.send_modify(|n| *n -= 1);
        }
    }
    if let Some(applier) = applier.lock().await.take() {
        applier.close().await;
    }
    closing
}

/// Lets the tasks that are ready run (on a busy server, requests and executions about to
/// send their own writes), again while each time brings more writes, at most [`MAX_YIELDS`]
/// times; on an idle server no task is ready and this returns at once.
async fn let_ready_tasks_send(messages: &mpsc::Receiver<Message>) {
    let mut queued = messages.len();
    for _ in 0..MAX_YIELDS {
        tokio::task::yield_now().await;
        let now = messages.len();
        if now == queued {
            break;
        }
        queued = now;
    }
}

/// Applies `batch` in one transaction and answers every caller; on a database failure, retries
/// each write in a transaction of its own.
async fn commit(store: &mut impl ApplyBatch, batch: &mut Vec<Pending>, observer: &Observer) {
    let writes: Vec<&Write> = batch.iter().map(|(write, _)| write).collect();
    match store.apply(&writes).await {
        Ok(results) => {
            observe(observer, batch.len());
            for ((_, reply), result) in batch.drain(..).zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                writes = batch.len(),
                "a batch of writes failed: retrying them one at a time"
            );
            for (write, reply) in batch.drain(..) {
                let result = match store.apply(&[&write]).await {
                    Ok(mut results) => results.pop().unwrap_or(Err(StoreError::WriterStopped)),
                    Err(e) => Err(e),
                };
                observe(observer, 1);
                let _ = reply.send(result);
            }
        }
    }
}

fn observe(observer: &Observer, writes: usize) {
    let observer = observer
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(observe) = observer.as_ref() {
        observe(writes);
    }
}

#[cfg(test)]
mod tests;
