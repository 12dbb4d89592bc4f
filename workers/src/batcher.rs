//! Group commit: concurrent handlers queue their items, and a few writer
//! tasks run whatever has queued up meanwhile as one batch (one statement, or
//! one transaction) instead of one round trip per item. Each caller still
//! waits for its own item's result, so the order of its effects is unchanged.
//!
//! The queue is bounded (a full queue makes callers wait: back-pressure), and
//! the writers belong to the [`JoinSet`] given at start-up: they stop once
//! every handle to the batcher is dropped, and the application joins them.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinSet;

/// How big batches get and how many run at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Items per batch at most.
    pub max_items: usize,
    /// Batches in flight at once: one collects while another runs.
    pub writers: usize,
}

type Job<I, O> = (I, oneshot::Sender<anyhow::Result<O>>);

/// A bounded queue of items that writer tasks run in batches.
pub struct Batcher<I, O> {
    queue: mpsc::Sender<Job<I, O>>,
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts `limits.writers` writers in `tasks`. `run` gets a batch and
    /// returns one result per item, in order.
    pub fn spawn<F, Fut>(tasks: &mut JoinSet<()>, limits: Limits, run: F) -> Batcher<I, O>
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<anyhow::Result<O>>> + Send + 'static,
    {
        let (queue, rx) = mpsc::channel::<Job<I, O>>(limits.max_items * limits.writers * 2);
        let rx = Arc::new(Mutex::new(rx));
        let run = Arc::new(run);
        for _ in 0..limits.writers.max(1) {
            tasks.spawn(write(rx.clone(), run.clone(), limits.max_items));
        }
        Batcher { queue }
    }

    /// Runs `item` in the next batch and returns its own result.
    pub async fn call(&self, item: I) -> anyhow::Result<O> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| anyhow::anyhow!("the batch writers stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the batch writer dropped a request"))?
    }
}

async fn write<I, O, F, Fut>(rx: Arc<Mutex<mpsc::Receiver<Job<I, O>>>>, run: Arc<F>, max: usize)
where
    F: Fn(Vec<I>) -> Fut,
    Fut: Future<Output = Vec<anyhow::Result<O>>>,
{
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        let (items, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
        let results = run(items).await;
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (its delivery was cancelled): nothing to tell.
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_caller_gets_its_own_result_and_writers_stop_with_the_last_handle() {
        let mut tasks = JoinSet::new();
        let limits = Limits {
            max_items: 4,
            writers: 2,
        };
        let batcher = Arc::new(Batcher::spawn(
            &mut tasks,
            limits,
            |items: Vec<u32>| async move {
                assert!(items.len() <= 4, "a batch never exceeds its limit");
                items.into_iter().map(|i| Ok(i * 10)).collect()
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
}
