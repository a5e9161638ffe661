//! The order desk: every order creation of this instance goes through one task that takes all the
//! orders waiting, creates them in one transaction ([`orders::create_batch`]) and answers each one
//! after the commit. Under load, one durable commit (and one lock of a busy product) serves many
//! orders; alone, an order is a batch of one.
//!
//! - A batch smaller than the one before waits up to [`LINGER`] for more orders (load is there);
//!   after a lone order, the next starts at once.
//! - An order is acknowledged only after the commit that stored it.
//! - An order whose request was abandoned before its batch started is not created.
//! - A batch that fails as a whole (a database error) is retried one order at a time, so only the
//!   order that caused it fails.

use prometheus_client::metrics::histogram::Histogram;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::orders::{self, MAX_BATCH, NewOrder, OrderWithItems};
use crate::error::AppError;

/// Connections of the desk's own pool (PostgreSQL): the batch's transaction, and the customers read beside it.
const DESK_CONNECTIONS: u32 = 2;
/// How long a batch smaller than the last one waits for more orders.
const LINGER: std::time::Duration = std::time::Duration::from_millis(2);
/// Orders that may wait for the desk before senders wait too.
const QUEUE: usize = 4 * MAX_BATCH;

struct Job {
    tenant_id: Uuid,
    order: NewOrder,
    reply: oneshot::Sender<Result<OrderWithItems, AppError>>,
}

/// The sending side; the task ends when the last clone is dropped.
#[derive(Clone)]
pub struct OrderDesk {
    jobs: mpsc::Sender<Job>,
}

impl OrderDesk {
    /// Starts the desk. On PostgreSQL it runs on a thread of its own with its own connections,
    /// so that its round trips (the time a busy product stays locked) never wait behind request
    /// handling on the service's runtime. SQLite's connections already run on threads of their own
    /// and take one writer at a time: there the desk is a task of the current runtime.
    pub fn start(db: DatabaseConnection, url: &str, batch_sizes: Histogram) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        if db.get_database_backend() != DbBackend::Postgres {
            tokio::spawn(serve(db, queue, batch_sizes));
            return Self { jobs };
        }
        let url = url.to_string();
        let thread = std::thread::Builder::new().name("order-desk".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => return tracing::error!(%error, "the order desk cannot start its runtime"),
            };
            runtime.block_on(async move {
                let own = match super::open(&url, DESK_CONNECTIONS).await {
                    Ok(own) => own,
                    Err(error) => {
                        tracing::warn!(%error, "the order desk uses the service's connections");
                        db
                    }
                };
                serve(own, queue, batch_sizes).await;
            });
        });
        if let Err(error) = thread {
            tracing::error!(%error, "the order desk cannot start its thread");
        }
        Self { jobs }
    }

    /// Creates an order, taking its stock, all or nothing; answers once it is durable.
    pub async fn create(&self, tenant_id: Uuid, order: NewOrder) -> Result<OrderWithItems, AppError> {
        let stopped = || AppError::Internal("the order desk has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { tenant_id, order, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn serve(db: DatabaseConnection, mut queue: mpsc::Receiver<Job>, batch_sizes: Histogram) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut previous = 0;
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        // Under load, the clients the last batch answered are sending their next orders: give them
        // a moment to join this batch rather than make them wait a whole batch behind a few.
        let deadline = tokio::time::Instant::now() + LINGER;
        while jobs.len() < previous.min(MAX_BATCH) {
            let want = MAX_BATCH - jobs.len();
            match tokio::time::timeout_at(deadline, queue.recv_many(&mut jobs, want)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        previous = jobs.len();
        jobs.retain(|job| !job.reply.is_closed());
        let (replies, batch): (Vec<_>, Vec<_>) =
            jobs.drain(..).map(|job| (job.reply, (job.tenant_id, job.order))).unzip();
        if batch.is_empty() {
            continue;
        }
        let started = std::time::Instant::now();
        batch_sizes.observe(batch.len() as f64);
        let outcome = orders::create_batch(&db, &batch).await;
        tracing::debug!(orders = batch.len(), ms = started.elapsed().as_secs_f64() * 1000.0, "order batch");
        match outcome {
            Ok(results) => replies.into_iter().zip(results).for_each(|(reply, result)| {
                let _ = reply.send(result);
            }),
            Err(error) if batch.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(error));
                }
            }
            Err(error) => {
                tracing::warn!(%error, orders = batch.len(), "an order batch failed; retrying its orders one by one");
                for (reply, one) in replies.into_iter().zip(batch) {
                    let result = orders::create_batch(&db, std::slice::from_ref(&one)).await.and_then(|mut results| {
                        results.pop().unwrap_or_else(|| Err(AppError::Internal("no result".into())))
                    });
                    let _ = reply.send(result);
                }
            }
        }
    }
}
