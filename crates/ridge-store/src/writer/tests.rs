//! The writer's batching, gathering and quiet-store commits, on appliers that record what
//! they were given.

use ridge_core::fixtures;

use super::*;

fn create(sync: bool) -> Write {
    let function = fixtures::function("p1", ridge_core::RuntimeId::new(), 1);
    let mut execution = fixtures::execution(&function, 2);
    execution.sync = sync;
    Write::CreateExecution(Box::new(NewExecution {
        execution,
        logs: String::new(),
    }))
}

/// A sync execution that finished before it was recorded.
fn record() -> Write {
    let Write::CreateExecution(mut new) = create(true) else {
        unreachable!("create makes a create")
    };
    new.execution.status = ridge_core::ExecutionStatus::Success;
    new.logs = "hello\n".to_owned();
    Write::CreateExecution(new)
}

fn start(durability: Durability) -> Write {
    Write::MarkStarted {
        id: ExecutionId::new(),
        node: "local".to_owned(),
        at: fixtures::at(3),
        durability,
    }
}

fn finish() -> Write {
    Write::Finish {
        id: ExecutionId::new(),
        outcome: Box::new(ExecutionOutcome {
            status: ridge_core::ExecutionStatus::Success,
            result: ridge_core::ExecutionResult::new(0.1, serde_json::json!(null)),
            logs: String::new(),
        }),
    }
}

#[test]
fn a_batch_is_deferred_only_when_every_write_is() {
    let (sync_create, async_create) = (create(true), create(false));
    let (deferred, flushed, finish) = (
        start(Durability::Deferred),
        start(Durability::Flushed),
        finish(),
    );
    assert_eq!(
        batch_durability(&[&sync_create, &deferred]),
        Durability::Deferred,
        "a sync execution's create and start wait for its finish's flush"
    );
    for flushing in [&async_create, &flushed, &finish, &record()] {
        assert_eq!(
            batch_durability(&[&sync_create, &deferred, flushing]),
            Durability::Flushed,
            "one write that must be on disk flushes the whole commit"
        );
        assert_eq!(batch_durability(&[flushing]), Durability::Flushed);
    }
}

/// Applies nothing; records the size of each batch it was given, and the task it was
/// applied on. Gathers its batches (see [`ApplyBatch::GATHER`]) when `G` is true, commits
/// on a quiet store's caller's task ([`ApplyBatch::INLINE`]) when `I` is.
struct Recording<const G: bool, const I: bool>(Arc<std::sync::Mutex<Applied>>);

#[derive(Default)]
struct Applied {
    sizes: Vec<usize>,
    tasks: Vec<Option<tokio::task::Id>>,
}

#[async_trait]
impl<const G: bool, const I: bool> ApplyBatch for Recording<G, I> {
    const GATHER: bool = G;
    const INLINE: bool = I;

    async fn apply(&mut self, writes: &[&Write]) -> Result<Vec<Result<Done>>> {
        let mut applied = self.0.lock().expect("not poisoned");
        applied.sizes.push(writes.len());
        applied.tasks.push(tokio::task::try_id());
        Ok(writes.iter().map(|_| Ok(Done::Finished(None))).collect())
    }

    async fn close(self) {}
}

/// A writer on a [`Recording`] applier, its task started and waiting for a write; what it
/// applies.
async fn recording<const G: bool, const I: bool>() -> (Writer, Arc<std::sync::Mutex<Applied>>) {
    let applied = Arc::new(std::sync::Mutex::new(Applied::default()));
    let writer = Writer::spawn(vec![Recording::<G, I>(applied.clone())]);
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    (writer, applied)
}

fn sizes(applied: &std::sync::Mutex<Applied>) -> Vec<usize> {
    applied.lock().expect("not poisoned").sizes.clone()
}

fn queued(write: Write) -> (Message, oneshot::Receiver<Result<Done>>) {
    let (reply, answer) = oneshot::channel();
    (Message::Write { write, reply }, answer)
}

/// Two writes queued before the writer runs: one batch of two.
async fn two_at_once(writer: &Writer) {
    let (one, first) = queued(finish());
    let (two, second) = queued(finish());
    writer.queue.send(one).await.expect("writer running");
    writer.queue.send(two).await.expect("writer running");
    first.await.expect("answered").expect("applied");
    second.await.expect("answered").expect("applied");
}

/// A first write, then seven sent by tasks that become ready after it woke the writer
/// (as a busy server's requests and executions do).
async fn first_then_seven(writer: &Writer) {
    let (first, answer) = queued(finish());
    // Wakes the writer, which is scheduled before the tasks spawned next.
    writer.queue.send(first).await.expect("writer running");
    let others: Vec<_> = (0..7)
        .map(|_| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.send(finish()).await.map(|_| ()) })
        })
        .collect();
    answer.await.expect("answered").expect("applied");
    for other in others {
        other.await.expect("task").expect("applied");
    }
}

/// Once writes have come together, SQLite's writer lets the tasks that are ready run
/// before it takes a batch: their writes join the first one's commit. Alone, a write is
/// committed at once.
#[tokio::test]
async fn a_gathering_writer_commits_the_writes_of_tasks_ready_when_it_woke_with_the_first() {
    let (writer, applied) = recording::<true, false>().await;
    two_at_once(&writer).await;
    first_then_seven(&writer).await;
    writer.send(finish()).await.expect("applied");
    assert_eq!(sizes(&applied), vec![2, 8, 1]);
}

/// A writer that has seen only lone writes (one request at a time), or no batch of several
/// for GATHER_FOR, does not yield: the tasks behind a first write get a batch of their own.
#[tokio::test(start_paused = true)]
async fn a_writer_gathers_only_while_writes_come_together() {
    let (writer, applied) = recording::<true, false>().await;
    first_then_seven(&writer).await;
    writer.send(finish()).await.expect("applied");
    tokio::time::advance(GATHER_FOR).await;
    first_then_seven(&writer).await;
    first_then_seven(&writer).await;
    assert_eq!(
        sizes(&applied),
        vec![1, 7, 1, 1, 7, 8],
        "apart, together within GATHER_FOR"
    );
}

/// PostgreSQL's writer takes only what is queued: a write sent after the first batch was
/// taken is never held back by a batch that waits on a row's lock.
#[tokio::test]
async fn a_writer_that_does_not_gather_takes_only_what_is_queued() {
    let (writer, applied) = recording::<false, false>().await;
    two_at_once(&writer).await;
    first_then_seven(&writer).await;
    writer.send(finish()).await.expect("applied");
    assert_eq!(sizes(&applied), vec![2, 1, 7, 1]);
}

/// Sends a finish from a task of its own; that task's id.
async fn sent_from_a_task(writer: &Writer) -> tokio::task::Id {
    let writer = writer.clone();
    tokio::spawn(async move {
        writer.send(finish()).await.expect("applied");
        tokio::task::id()
    })
    .await
    .expect("task")
}

/// On a quiet store (SQLite's), a write commits on its caller's task, with no hop to the
/// writer task and back; one that comes within QUIET_FOR of the last commit, or within
/// GATHER_FOR of a batch of several, goes through the writer task, and writes that come
/// together still form its batches.
#[tokio::test(start_paused = true)]
async fn a_quiet_store_commits_a_write_on_its_callers_task() {
    let (writer, applied) = recording::<true, true>().await;
    let caller = sent_from_a_task(&writer).await;
    let soon = sent_from_a_task(&writer).await;
    tokio::time::advance(QUIET_FOR).await;
    let quiet_again = sent_from_a_task(&writer).await;
    first_then_seven(&writer).await;
    tokio::time::advance(QUIET_FOR).await;
    let after_a_crowd = sent_from_a_task(&writer).await;
    tokio::time::advance(GATHER_FOR).await;
    let calm = sent_from_a_task(&writer).await;
    let applied = applied.lock().expect("not poisoned");
    assert_eq!(
        applied.tasks[0],
        Some(caller),
        "the first on its caller's task"
    );
    assert_ne!(
        applied.tasks[1],
        Some(soon),
        "within QUIET_FOR through the writer task"
    );
    assert_eq!(
        applied.tasks[2],
        Some(quiet_again),
        "quiet again after QUIET_FOR"
    );
    assert_ne!(
        applied.tasks[5],
        Some(after_a_crowd),
        "within GATHER_FOR of a batch of several through the writer task"
    );
    assert_eq!(applied.tasks[6], Some(calm), "calm again after GATHER_FOR");
    assert_eq!(applied.sizes, vec![1, 1, 1, 1, 7, 1, 1]);
}

/// A quiet store's write sent after `close` fails, as one through the writer task does.
#[tokio::test(start_paused = true)]
async fn a_quiet_store_commits_nothing_after_close() {
    let (writer, applied) = recording::<true, true>().await;
    writer.send(finish()).await.expect("applied");
    writer.close().await;
    tokio::time::advance(QUIET_FOR).await;
    assert!(matches!(
        writer.send(finish()).await,
        Err(StoreError::WriterStopped)
    ));
    assert_eq!(sizes(&applied), vec![1]);
}
