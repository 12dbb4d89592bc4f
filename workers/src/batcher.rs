//! Group commit: concurrent handlers queue their items, and a few writer
//! tasks run whatever has queued up meanwhile as one batch (one statement, or
//! one transaction) instead of one round trip per item. Each caller still
//! waits for its own item's result, so the order of its effects is unchanged.
//!
//! Each writer keeps a state of its own across batches (in the workers: a
//! database connection outside the pool, which sqlx would otherwise ping
//! each time it goes back: a round trip per batch). A writer idle for
//! [`Limits::idle`] drops its state (closing that connection) and makes a new
//! one with its next batch, so a quiet service holds no connections.
//!
//! Under load, batches form by themselves: items queue while another batch
//! runs. A quiet service has no such batch to wait behind, and each item
//! alone costs a transaction, its round trips and their wake-ups (on the
//! 2-core VM of BENCHMARKS.md, about 70 us of CPU each): so when no batch is
//! running, a writer waits up to [`Limits::linger`] after the first item for
//! more to join it, as Kafka's `linger.ms` does. Busy, it never waits.
//!
//! The queue is bounded (a full queue makes callers wait: back-pressure), and
//! the writers belong to the [`JoinSet`] given at start-up: they stop once
//! every handle to the batcher is dropped, and the application joins them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;

/// How big batches get and how many run at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Items per batch at most.
    pub max_items: usize,
    /// Batches in flight at once: one collects while another runs.
    pub writers: usize,
    /// A writer without work for this long drops its state.
    pub idle: Duration,
    /// When no batch is running, how long a batch's first item waits for
    /// others (zero: never).
    pub linger: Duration,
}

type Job<I, O, E> = (I, oneshot::Sender<Result<O, E>>);
type Queue<I, O, E> = Arc<Mutex<mpsc::Receiver<Job<I, O, E>>>>;

/// A bounded queue of items that writer tasks run in batches; `E`: the
/// error each item may end with.
pub struct Batcher<I, O, E = anyhow::Error> {
    queue: mpsc::Sender<Job<I, O, E>>,
}

/// The batch writers are gone (the service is stopping).
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// They stopped before taking the item.
    #[error("the batch writers stopped")]
    Writers,
    /// A writer dropped the item without an answer.
    #[error("the batch writer dropped a request")]
    Dropped,
}

impl<I: Send + 'static, O: Send + 'static, E: From<Stopped> + Send + 'static> Batcher<I, O, E> {
    /// Starts `limits.writers` writers in `tasks`, each with a state made by
    /// `make` (again after [`Limits::idle`] without work). `run` gets the
    /// writer's state and a batch, and gives back the state and one result
    /// per item, in order.
    pub fn spawn<S, M, F, Fut>(
        tasks: &mut JoinSet<()>,
        limits: Limits,
        make: M,
        run: F,
    ) -> Batcher<I, O, E>
    where
        S: Send + 'static,
        M: Fn() -> S + Send + Sync + 'static,
        F: Fn(S, Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = (S, Vec<Result<O, E>>)> + Send + 'static,
    {
        let (queue, rx) = mpsc::channel::<Job<I, O, E>>(limits.max_items * limits.writers * 2);
        let rx = Arc::new(Mutex::new(rx));
        let writer = Arc::new(Writer {
            make,
            run,
            running: AtomicUsize::new(0),
        });
        for _ in 0..limits.writers.max(1) {
            tasks.spawn(write(rx.clone(), writer.clone(), limits));
        }
        Batcher { queue }
    }

    /// Runs `item` in the next batch and returns its own result.
    pub async fn call(&self, item: I) -> Result<O, E> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| Stopped::Writers)?;
        answer.await.map_err(|_| Stopped::Dropped)?
    }
}

struct Writer<M, F> {
    make: M,
    run: F,
    /// Batches running now, over all writers: none means nobody is waiting
    /// behind one, and a lone item may linger for company.
    running: AtomicUsize,
}

/// What a writer found waiting for it.
enum Next<I, O, E> {
    Batch(Vec<Job<I, O, E>>),
    Idle,
    Closed,
}

async fn next_batch<I, O, E>(
    rx: &Queue<I, O, E>,
    limits: Limits,
    running: &AtomicUsize,
) -> Next<I, O, E> {
    let mut rx = rx.lock().await;
    let first = match tokio::time::timeout(limits.idle, rx.recv()).await {
        Ok(Some(first)) => first,
        Ok(None) => return Next::Closed,
        Err(_) => return Next::Idle,
    };
    let mut batch = vec![first];
    take_queued(&mut rx, &mut batch, limits.max_items);
    if running.load(Ordering::Acquire) == 0 && !limits.linger.is_zero() {
        let until = tokio::time::Instant::now() + limits.linger;
        while batch.len() < limits.max_items {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(next)) => batch.push(next),
                // Closed or lingered long enough: run what there is.
                Ok(None) | Err(_) => break,
            }
            take_queued(&mut rx, &mut batch, limits.max_items);
        }
    }
    Next::Batch(batch)
}

/// Adds what is queued already, up to `max` items in all.
fn take_queued<I, O, E>(
    rx: &mut mpsc::Receiver<Job<I, O, E>>,
    batch: &mut Vec<Job<I, O, E>>,
    max: usize,
) {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
}

async fn write<I, O, E, S, M, F, Fut>(rx: Queue<I, O, E>, writer: Arc<Writer<M, F>>, limits: Limits)
where
    M: Fn() -> S,
    F: Fn(S, Vec<I>) -> Fut,
    Fut: Future<Output = (S, Vec<Result<O, E>>)>,
{
    let mut state = None;
    loop {
        let batch = match next_batch(&rx, limits, &writer.running).await {
            Next::Batch(batch) => batch,
            Next::Idle => {
                state = None;
                continue;
            }
            Next::Closed => return,
        };
        let (items, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
        let current = state.take().unwrap_or_else(|| (writer.make)());
        let running = Running::start(&writer.running);
        let (kept, results) = (writer.run)(current, items).await;
        drop(running);
        state = Some(kept);
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (its delivery was cancelled): nothing to tell.
            let _ = reply.send(result);
        }
    }
}

/// A batch counted as running while this lives (even if its future is dropped).
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(count: &'a AtomicUsize) -> Running<'a> {
        count.fetch_add(1, Ordering::AcqRel);
        Running(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `$work` (an expression over `$c`, a `&mut PgConnection`) on a writer's
/// own connection (`store::Dedicated`, opened if needed), which is
/// forgotten after an error so the next batch opens a fresh one.
macro_rules! on_own_connection {
    ($conn:expr, |$c:ident| $work:expr) => {{
        let result = match $conn.get().await {
            Ok($c) => $work.await,
            Err(e) => Err(e),
        };
        $conn.checked(result)
    }};
}
pub(crate) use on_own_connection;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_caller_gets_its_own_result_and_writers_stop_with_the_last_handle() {
        let mut tasks = JoinSet::new();
        let limits = Limits {
            max_items: 4,
            writers: 2,
            idle: Duration::from_secs(30),
            linger: Duration::ZERO,
        };
        let batcher = Arc::new(Batcher::spawn(
            &mut tasks,
            limits,
            || (),
            |(), items: Vec<u32>| async move {
                assert!(items.len() <= 4, "a batch never exceeds its limit");
                (
                    (),
                    items
                        .into_iter()
                        .map(|i| Ok::<_, anyhow::Error>(i * 10))
                        .collect(),
                )
            },
        ));
        let calls: Vec<_> = (0..20u32)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { b.call(i).await.unwrap() })
            })
            .collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), i as u32 * 10);
        }
        drop(batcher);
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .expect("writers stop once the batcher is dropped");
    }

    /// The state is a connection in the workers: kept from batch to batch
    /// while work comes, let go when none has come for a while.
    #[tokio::test]
    async fn a_writer_keeps_its_state_across_batches_and_drops_it_when_idle() {
        let mut tasks = JoinSet::new();
        let made = Arc::new(AtomicUsize::new(0));
        let counter = made.clone();
        let limits = Limits {
            max_items: 8,
            writers: 1,
            idle: Duration::from_millis(100),
            linger: Duration::ZERO,
        };
        // The state counts the batches it has run.
        let batcher = Batcher::spawn(
            &mut tasks,
            limits,
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                0usize
            },
            |runs: usize, items: Vec<()>| async move {
                let runs = runs + 1;
                (
                    runs,
                    items
                        .into_iter()
                        .map(|()| Ok::<_, anyhow::Error>(runs))
                        .collect(),
                )
            },
        );
        assert_eq!(batcher.call(()).await.unwrap(), 1);
        tokio::time::sleep(limits.idle / 4).await;
        assert_eq!(
            batcher.call(()).await.unwrap(),
            2,
            "the same state ran both"
        );
        assert_eq!(made.load(Ordering::SeqCst), 1);
        tokio::time::sleep(limits.idle * 3).await;
        assert_eq!(
            batcher.call(()).await.unwrap(),
            1,
            "a new state after idling"
        );
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }

    /// A batcher whose items answer with the size of the batch they ran in;
    /// the first batch takes `first_takes` to run.
    fn sizes(
        tasks: &mut JoinSet<()>,
        limits: Limits,
        first_takes: Duration,
    ) -> Arc<Batcher<(), usize>> {
        let batches = Arc::new(AtomicUsize::new(0));
        Arc::new(Batcher::spawn(
            tasks,
            limits,
            || (),
            move |(), items: Vec<()>| {
                let first = batches.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    if first {
                        tokio::time::sleep(first_takes).await;
                    }
                    let n = items.len();
                    ((), items.into_iter().map(|()| Ok(n)).collect())
                }
            },
        ))
    }

    fn lingering(max_items: usize, writers: usize, linger: Duration) -> Limits {
        Limits {
            max_items,
            writers,
            idle: Duration::from_secs(30),
            linger,
        }
    }

    /// At a quiet service's pace, items a little apart share one batch.
    #[tokio::test]
    async fn a_quiet_batcher_lets_a_lone_item_wait_for_company() {
        let mut tasks = JoinSet::new();
        let b = sizes(
            &mut tasks,
            lingering(8, 2, Duration::from_millis(300)),
            Duration::ZERO,
        );
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.call(()).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = b.call(()).await.unwrap();
        assert_eq!((first.await.unwrap(), second), (2, 2), "one batch of two");
        // Without the linger, the first item runs alone.
        let b = sizes(&mut tasks, lingering(8, 2, Duration::ZERO), Duration::ZERO);
        let first = tokio::spawn({
            let b = b.clone();
            async move { b.call(()).await.unwrap() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!((first.await.unwrap(), b.call(()).await.unwrap()), (1, 1));
    }

    /// A full batch runs at once, and while a batch runs nobody lingers:
    /// the linger costs a busy service no latency.
    #[tokio::test]
    async fn a_full_or_busy_batcher_never_lingers() {
        let mut tasks = JoinSet::new();
        let long = Duration::from_secs(10);
        let b = sizes(&mut tasks, lingering(2, 2, long), Duration::ZERO);
        let started = std::time::Instant::now();
        let (x, y) = tokio::join!(b.call(()), b.call(()));
        assert_eq!((x.unwrap(), y.unwrap()), (2, 2));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a full batch runs at once"
        );

        // A full first batch that runs for 3 s; an item that comes meanwhile
        // is taken by the other writer at once, not after the linger.
        let b = sizes(&mut tasks, lingering(2, 2, long), Duration::from_secs(3));
        let slow = tokio::spawn({
            let b = b.clone();
            async move { tokio::join!(b.call(()), b.call(())) }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        assert_eq!(b.call(()).await.unwrap(), 1);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "no linger while a batch runs: {:?}",
            started.elapsed()
        );
        let (x, y) = slow.await.unwrap();
        assert_eq!((x.unwrap(), y.unwrap()), (2, 2));
    }
}
