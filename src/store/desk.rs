//! The order desk: every order creation of this instance goes through one task that takes all the
//! orders waiting, creates them in one transaction ([`orders::create_batch`]) and answers each one
//! after the commit. Under load, one durable commit (and one lock of a busy product) serves many
//! orders; alone, an order is a batch of one.
//!
//! - Through a pool (PostgreSQL), a batch smaller than the one before waits up to [`LINGER`] for
//!   more orders (load is there); after a lone order, the next starts at once (orders of random
//!   products at 10,000: 3.8k-5.0k/s lingering, 3.2k-3.5k/s not). On PostgreSQL the batch's
//!   transaction begins while it waits, so the `BEGIN` is not one of the round trips the batch
//!   waits for between its first order and its commit. A batch of orders of one product the desk
//!   knows (from its last batches) is decided on what it knows and written in one statement that
//!   checks the product's version, with no transaction of its own and no lock before it
//!   ([`orders::Known`]); then the next batch's transaction is not begun ahead, and it does not
//!   linger either (`Writer::linger`). On a SQLite file a
//!   batch takes what is waiting and starts: it costs so little of its own (half a millisecond for
//!   32 orders) that waiting for stragglers only kept the database idle (orders of random products
//!   at 10,000: 16.1k/s lingering, 18.2k/s not; of one product 22.8k/s and 26.1k/s).
//! - An order is acknowledged only after the commit that stored it.
//! - An order whose request was abandoned before its batch started is not created.
//! - A batch that fails as a whole (a database error) is retried one order at a time, so only the
//!   order that caused it fails.

use std::sync::Arc;

use prometheus_client::metrics::histogram::Histogram;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbBackend};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::checkpoints::LogGate;
use super::orders::{self, MAX_BATCH, NewOrder, OrderWithItems};
use crate::error::AppError;

/// Connections of the desk's own pool (PostgreSQL): the batch's transaction, and the customers read beside it.
const DESK_CONNECTIONS: u32 = 2;
/// How long a batch smaller than the last one waits for more orders, through a pool.
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

/// What the desk writes its batches through.
enum Writer {
    /// sea-orm's connections: PostgreSQL (the desk's own pool, and what its batches taught it), or
    /// an in-memory SQLite database (only the service's own connection can see it).
    Pool(DatabaseConnection, orders::Known),
    /// A SQLite file: a synchronous connection of the desk's thread (`sqlite_orders`), and the gate
    /// its batches pass, which the checkpoints that let the log start over hold.
    Sqlite(rusqlite::Connection, Arc<LogGate>),
}

impl Writer {
    /// How long a batch smaller than the last one waits for more orders: through a pool, unless
    /// the last batch needed no transaction of its own ([`orders::Known`]). Such a batch is one
    /// statement, so a batch of the orders already waiting costs little more than one of all of
    /// them, and lingering for the rest only kept the database idle while they were answered and
    /// sent again (orders of one product at 10,000 on PostgreSQL, by hand, alternating: 13.9k-18.1k/s
    /// without, 10.3k-13.7k/s lingering). A locked batch costs three round trips and a commit: there
    /// lingering pays (orders of random products: 3.8k-5.0k/s lingering, 3.2k-3.5k/s not).
    fn linger(&self) -> std::time::Duration {
        match self {
            Self::Pool(_, known) if !known.unlocked_last => LINGER,
            Self::Pool(..) | Self::Sqlite(..) => std::time::Duration::ZERO,
        }
    }

    /// Where a batch's transaction begins before its orders are all in: PostgreSQL's pool, unless
    /// the last batch needed no transaction of its own ([`orders::Known`]).
    fn begins_ahead(&self) -> Option<DatabaseConnection> {
        match self {
            Self::Pool(db, known) if db.get_database_backend() == DbBackend::Postgres && !known.unlocked_last => {
                Some(db.clone())
            }
            _ => None,
        }
    }

    async fn create_batch(
        &mut self,
        begun: Option<DatabaseTransaction>,
        batch: &[(Uuid, NewOrder)],
    ) -> Result<Vec<Result<OrderWithItems, AppError>>, AppError> {
        match self {
            Self::Pool(db, known) => orders::create_batch_in(db, begun, batch, Some(known)).await,
            Self::Sqlite(conn, gate) => gate.pass(|| super::sqlite_orders::create_batch(conn, batch)),
        }
    }
}

impl OrderDesk {
    /// Starts the desk on a thread of its own, with its own connections, so that its round trips
    /// (the time a busy product stays locked) never wait behind request handling on the service's
    /// runtime: on PostgreSQL a pool of [`DESK_CONNECTIONS`], on a SQLite file a synchronous
    /// connection whose batches block only that thread. An in-memory SQLite database has only the
    /// service's connection: there the desk is a task of the current runtime.
    pub fn start(db: DatabaseConnection, url: &str, batch_sizes: Histogram, gate: Arc<LogGate>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let file = super::reads::sqlite_file(url);
        if file.is_none() && db.get_database_backend() != DbBackend::Postgres {
            tokio::spawn(serve(Writer::Pool(db, orders::Known::default()), queue, batch_sizes));
            return Self { jobs };
        }
        let url = url.to_string();
        let thread = std::thread::Builder::new().name("order-desk".into()).spawn(move || {
            run_ahead();
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => return tracing::error!(%error, "the order desk cannot start its runtime"),
            };
            runtime.block_on(async move {
                let own = match file {
                    Some(path) => super::sqlite_orders::connect(&path)
                        .map(|conn| Writer::Sqlite(conn, gate))
                        .map_err(|e| e.to_string()),
                    None => super::open(&url, DESK_CONNECTIONS)
                        .await
                        .map(|db| Writer::Pool(db, orders::Known::default()))
                        .map_err(|e| e.to_string()),
                };
                let writer = own.unwrap_or_else(|error| {
                    tracing::warn!(%error, "the order desk uses the service's connections");
                    Writer::Pool(db, orders::Known::default())
                });
                serve(writer, queue, batch_sizes).await;
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

/// The nice value of the desk's thread: every order waits for it, one batch at a time, so when it
/// and request handling are both ready to run, it runs first. Left at the process's own (0), on two
/// cores a batch's thread waited 146 µs on average for a core each time its orders woke it, behind
/// the runtime's workers and the load generator, while the other orders waited for that batch;
/// 10-17% of both cores stayed idle (orders of random products at 10,000, by hand, alternating:
/// 15.1k-17.0k/s at 0, 16.7k-18.2k/s at -10).
const DESK_NICE: libc::c_int = -10;

/// Gives the calling thread (the desk's) [`DESK_NICE`], where the process may raise a thread's
/// priority (`CAP_SYS_NICE`, or `RLIMIT_NICE`); elsewhere it stays as it is, and says so once.
fn run_ahead() {
    // SAFETY: `gettid` and `setpriority` take and return plain integers; on Linux a thread's nice
    // value is its own, set through its thread id.
    let raised = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, DESK_NICE) } == 0;
    if !raised {
        let error = std::io::Error::last_os_error();
        tracing::info!(%error, nice = DESK_NICE, "the order desk's thread runs at the process's own priority");
    }
}

async fn serve(mut writer: Writer, mut queue: mpsc::Receiver<Job>, batch_sizes: Histogram) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let mut previous = 0;
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let linger = writer.linger();
        // Under load, the clients the last batch answered are sending their next orders: give them
        // a moment to join this batch rather than make them wait a whole batch behind a few. The
        // batch's transaction begins meanwhile (one round trip fewer after the wait).
        let deadline = tokio::time::Instant::now() + linger;
        let gather = async {
            while !linger.is_zero() && jobs.len() < previous.min(MAX_BATCH) {
                let want = MAX_BATCH - jobs.len();
                match tokio::time::timeout_at(deadline, queue.recv_many(&mut jobs, want)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        // A begin that fails is left to the batch, which begins again and reports it.
        let ahead = writer.begins_ahead();
        let begin = async {
            match ahead {
                Some(db) => orders::begin_batch(&db).await.ok(),
                None => None,
            }
        };
        let (begun, ()) = tokio::join!(begin, gather);
        previous = jobs.len();
        jobs.retain(|job| !job.reply.is_closed());
        let (replies, batch): (Vec<_>, Vec<_>) =
            jobs.drain(..).map(|job| (job.reply, (job.tenant_id, job.order))).unzip();
        if batch.is_empty() {
            continue; // `begun` is rolled back as it is dropped
        }
        let started = std::time::Instant::now();
        batch_sizes.observe(batch.len() as f64);
        let outcome = writer.create_batch(begun, &batch).await;
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
                    let result = writer.create_batch(None, std::slice::from_ref(&one)).await.and_then(|mut results| {
                        results.pop().unwrap_or_else(|| Err(AppError::Internal("no result".into())))
                    });
                    let _ = reply.send(result);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(unlocked_last: bool) -> Writer {
        let mut known = orders::Known::default();
        known.unlocked_last = unlocked_last;
        Writer::Pool(DatabaseConnection::default(), known)
    }

    /// Where this process may raise a thread's priority (as root, the bench's and CI's case), the
    /// desk's thread runs at [`DESK_NICE`]; elsewhere at the process's own.
    #[test]
    fn the_desk_s_thread_runs_ahead_where_the_process_may_raise_priorities() {
        // SAFETY: plain integers in and out: the calling thread's nice value.
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        // CAP_SYS_NICE (capability 23) among the effective ones, or a nice limit down to -10.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let capabilities = status
            .lines()
            .find_map(|line| line.strip_prefix("CapEff:"))
            .and_then(|bits| u64::from_str_radix(bits.trim(), 16).ok())
            .unwrap_or(0);
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: fills `limit`, a plain struct.
        unsafe { libc::getrlimit(libc::RLIMIT_NICE, &mut limit) };
        let may_raise = capabilities & (1 << 23) != 0 || limit.rlim_cur >= (20 - DESK_NICE) as libc::rlim_t;

        let before = std::thread::spawn(nice).join().expect("runs");
        let after = std::thread::spawn(move || {
            run_ahead();
            nice()
        })
        .join()
        .expect("runs");
        if may_raise {
            assert_eq!(after, DESK_NICE);
        } else {
            assert_eq!(after, before);
        }
    }

    #[test]
    fn a_pool_lingers_after_a_locked_batch_and_not_after_one_written_without_a_lock() {
        assert_eq!(pool(false).linger(), LINGER);
        assert_eq!(pool(true).linger(), std::time::Duration::ZERO);
    }
}
