use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::SharedReads;
use crate::{Result, StoreError};

/// A read that the test answers: every call sends the test a way to answer it, and waits.
type Answer = oneshot::Sender<Result<u32>>;

type Read = std::pin::Pin<Box<dyn Future<Output = Result<u32>> + Send>>;

fn gated() -> (
    impl Fn() -> Read + Clone + Send + 'static,
    mpsc::UnboundedReceiver<Answer>,
) {
    let (calls, gate) = mpsc::unbounded_channel::<Answer>();
    let read = move || -> Read {
        let calls = calls.clone();
        Box::pin(async move {
            let (answer, answered) = oneshot::channel();
            calls.send(answer).expect("the test listens");
            answered.await.expect("the test answers")
        })
    };
    (read, gate)
}

fn spawn_get<R, F>(reads: &Arc<SharedReads<u32, u32>>, read: &R) -> JoinHandle<Result<u32>>
where
    R: Fn() -> F + Clone + Send + 'static,
    F: Future<Output = Result<u32>> + Send + 'static,
{
    let (reads, read) = (reads.clone(), read.clone());
    tokio::spawn(async move { reads.get(1, read).await })
}

/// Lets the spawned tasks run until `n` callers wait for the key's next read.
async fn until_waiting(reads: &SharedReads<u32, u32>, n: usize) {
    for _ in 0..1000 {
        if reads.lock().get(&1).map(Vec::len) == Some(n) {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{n} callers never waited");
}

async fn answer(gate: &mut mpsc::UnboundedReceiver<Answer>, value: Result<u32>) {
    let call = gate.recv().await.expect("a read was sent");
    call.send(value).expect("the read waits");
}

/// A first caller whose read is under way (`sent` answers it), and `n` callers who came
/// during that read and wait.
async fn during_a_read<R, F>(
    reads: &Arc<SharedReads<u32, u32>>,
    read: &R,
    gate: &mut mpsc::UnboundedReceiver<Answer>,
    n: usize,
) -> (
    JoinHandle<Result<u32>>,
    Answer,
    Vec<JoinHandle<Result<u32>>>,
)
where
    R: Fn() -> F + Clone + Send + 'static,
    F: Future<Output = Result<u32>> + Send + 'static,
{
    let first = spawn_get(reads, read);
    let sent = gate.recv().await.expect("the first caller reads");
    let later: Vec<_> = (0..n).map(|_| spawn_get(reads, read)).collect();
    until_waiting(reads, n).await;
    (first, sent, later)
}

/// What a caller got.
async fn got(caller: JoinHandle<Result<u32>>) -> u32 {
    caller.await.expect("joined").expect("read")
}

#[tokio::test]
async fn callers_who_come_during_a_read_share_the_next_one_not_that_one() {
    let reads = Arc::new(SharedReads::default());
    let (read, mut gate) = gated();
    // Five callers come while the first one's read is under way.
    let (first, sent, later) = during_a_read(&reads, &read, &mut gate, 5).await;
    sent.send(Ok(10)).expect("the read waits");
    assert_eq!(got(first).await, 10);
    // One more read, sent after they came, answers all five.
    answer(&mut gate, Ok(20)).await;
    for caller in later {
        assert_eq!(got(caller).await, 20);
    }
    assert!(gate.try_recv().is_err(), "two reads for six callers");
    assert!(reads.lock().is_empty(), "the key is free");
}

#[tokio::test]
async fn a_caller_alone_sends_its_own_read_each_time() {
    let reads = Arc::new(SharedReads::default());
    let (read, mut gate) = gated();
    for value in 0..3 {
        let caller = spawn_get(&reads, &read);
        answer(&mut gate, Ok(value)).await;
        assert_eq!(got(caller).await, value);
        assert!(reads.lock().is_empty());
    }
}

#[tokio::test]
async fn when_a_shared_read_fails_each_of_its_callers_reads_alone() {
    let reads = Arc::new(SharedReads::default());
    let (read, mut gate) = gated();
    let (first, sent, later) = during_a_read(&reads, &read, &mut gate, 3).await;
    sent.send(Ok(1)).expect("the read waits");
    assert_eq!(got(first).await, 1);
    answer(&mut gate, Err(StoreError::WriterStopped)).await;
    for value in [31, 32, 33] {
        answer(&mut gate, Ok(value)).await;
    }
    let mut values: Vec<u32> = Vec::new();
    for caller in later {
        values.push(got(caller).await);
    }
    values.sort_unstable();
    assert_eq!(values, [31, 32, 33]);
    assert!(reads.lock().is_empty());
}

#[tokio::test]
async fn a_caller_that_gives_up_on_its_read_leaves_the_others_to_read_and_the_key_free() {
    let reads = Arc::new(SharedReads::default());
    let (read, mut gate) = gated();
    let (first, _abandoned, later) = during_a_read(&reads, &read, &mut gate, 2).await;
    first.abort();
    assert!(first.await.expect_err("aborted").is_cancelled());
    answer(&mut gate, Ok(7)).await;
    answer(&mut gate, Ok(7)).await;
    for caller in later {
        assert_eq!(got(caller).await, 7);
    }
    assert!(reads.lock().is_empty(), "the key is free");
    let next = spawn_get(&reads, &read);
    answer(&mut gate, Ok(8)).await;
    assert_eq!(got(next).await, 8);
}
