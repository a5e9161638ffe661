//! Persistence: the database connection, entities, migrations and the queries handlers use.
//! Nothing here knows about HTTP; every query on tenant-owned rows takes the tenant id.

pub mod checkpoints;
pub mod customers;
pub mod desk;
pub mod entities;
mod fts5_tokens;
pub mod idempotency;
pub mod migrations;
pub mod orders;
pub mod products;
pub mod reads;
mod shared_map;
pub mod sqlite_orders;
pub mod tenants;
pub mod throttles;
pub mod tokens;
pub mod word_index;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

use crate::error::AppError;

/// Opens the database `url` names (SQLite or PostgreSQL) and applies pending migrations.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = Database::connect(options(url, 32)).await?;
    migrations::Migrator::up(&db, None).await?;
    Ok(db)
}

/// [`connect`] for a process starting up: a URL that names no usable database, a SQLite file whose
/// directory is missing or that is not a database, or a PostgreSQL server that refuses connections
/// is refused at once, naming the cause and the remedy (a refused PostgreSQL is not waited on).
pub async fn open_database(url: &str) -> Result<DatabaseConnection, String> {
    let shape = "DATABASE_URL must be sqlite://PATH (e.g. sqlite://commerce.db?mode=rwc to create the file) or postgres://USER@HOST:PORT/DATABASE";
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//").split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(format!("{url:?} names no SQLite file; {shape}"));
        }
        if path != ":memory:" {
            let file = std::path::Path::new(path);
            let directory = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            if !directory.is_dir() {
                return Err(format!(
                    "the directory {} of the SQLite file {path} does not exist: create it, or point DATABASE_URL elsewhere",
                    directory.display()
                ));
            }
            if !file.exists() && !url.contains("mode=rwc") {
                return Err(format!(
                    "the SQLite file {path} does not exist: add ?mode=rwc to DATABASE_URL to create it"
                ));
            }
        }
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if let Some(address) = postgres_address(url) {
            let reach = tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(&address)).await;
            match reach {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(format!(
                        "PostgreSQL at {address} cannot be reached ({e}): is it running, and is DATABASE_URL's host and port right?"
                    ));
                }
                Err(_) => {
                    return Err(format!(
                        "PostgreSQL at {address} did not answer within 3 s: is the address right, or a firewall in the way?"
                    ));
                }
            }
        }
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        return Err(format!("{scheme:?} is not a database this service runs on; {shape}"));
    }
    connect(url).await.map_err(|e| {
        let cause = e.to_string();
        if cause.contains("file is not a database") {
            format!("{url} is not an SQLite database ({cause}): point DATABASE_URL at the service's database file")
        } else if cause.contains("password authentication failed") || cause.contains("does not exist") {
            format!("PostgreSQL refused {url}: {cause}")
        } else {
            format!("cannot open the database {url}: {cause}")
        }
    })
}

/// `host:port` of a TCP PostgreSQL URL (none for a Unix socket).
fn postgres_address(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() || host_port.starts_with('%') {
        return None;
    }
    let has_port =
        host_port.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !host_port.ends_with(']');
    Some(if has_port { host_port.to_string() } else { format!("{host_port}:5432") })
}

/// A second pool of at most `connections` over the database `url` names, already migrated.
pub async fn open(url: &str, connections: u32) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(url, connections)).await
}

/// How long a pooled connection stays idle before it is checked again when it is next handed out.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

fn options(url: &str, connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url);
    options.sqlx_logging(false).acquire_timeout(Duration::from_secs(10));
    // A connection is checked (pinged) before it is handed out only after it has stayed idle for
    // a second, not at every checkout: the check is a round trip of its own, the fifth of an order
    // batch's on PostgreSQL (with `BEGIN`, the lock, the write and `COMMIT`) and the first of
    // every read through the pool. A connection that sat idle while the server restarted, or a
    // proxy or firewall dropped it, is still found out and replaced before anyone uses it; one
    // used within that second fails its next statement, and sqlx's check as it is given back
    // (a ping on every release) drops it.
    options.test_before_acquire_if_idle_for(IDLE_BEFORE_PING);
    // sqlx reports each acquire's wait as a TRACE event, which `/metrics` counts
    // (`crate::http::metrics::PoolAcquireLayer`); nothing else listens to it.
    options
        .map_sqlx_sqlite_pool_opts(|o| {
            o.acquire_time_level(log::LevelFilter::Trace).after_connect(|conn, _| {
                Box::pin(async move {
                    let mut handle = conn.lock_handle().await?;
                    // SAFETY: the handle is this open connection's, locked for the call; the
                    // handler is a plain function that keeps no pointer.
                    let set = unsafe {
                        rusqlite::ffi::sqlite3_busy_handler(
                            handle.as_raw_handle().as_ptr(),
                            Some(busy_handler),
                            std::ptr::null_mut(),
                        )
                    };
                    if set != rusqlite::ffi::SQLITE_OK {
                        return Err(sea_orm::sqlx::Error::Protocol(format!("sqlite3_busy_handler: {set}")));
                    }
                    Ok(())
                })
            })
        })
        .map_sqlx_postgres_pool_opts(|o| o.acquire_time_level(log::LevelFilter::Trace));
    if url.starts_with("sqlite:") {
        // WAL lets readers run beside the writer; the busy timeout queues writers instead of failing.
        options.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // No memory map on the writer (SQLite's default, said out loud): the pages it reads
                // are few and near the end of the orders' tables, and a map kept every page it
                // ever touched resident in the process (bench workloads at 10,000 products: peak
                // RSS 117 -> 101 MiB, orders/s unchanged). Nor on the readers (`reads::connect`).
                .pragma("mmap_size", "0")
                // Statement journals (a statement's undo within a transaction) in memory: in a
                // file, each order batch's statements wrote their pages to it (10% of the desk's
                // time in pwrite).
                .pragma("temp_store", "memory")
                // A writer copies the WAL back into the database itself only past
                // `WRITERS_CHECKPOINT_PAGES`: the service's own thread copies it off the writers'
                // path and starts it over (`checkpoints`); this is the backstop.
                .pragma("wal_autocheckpoint", WRITERS_CHECKPOINT_PAGES.to_string())
        });
    } else {
        options.max_connections(connections);
    }
    options
}

/// The log's length in pages past which a SQLite writer's commit copies it back into the database
/// itself (`wal_autocheckpoint`), with the file synced on the writer's path. The checkpoints'
/// thread copies it every 25 ms and starts it over at [`checkpoints::RESTART_FRAMES`], half this:
/// this is the backstop should that thread fall behind. (At SQLite's 1,000 a page written again
/// and again, as orders of random products rewrite the same product and index pages, was copied
/// at every checkpoint: 7.4k -> 10k orders/s at 10,000.)
pub(crate) const WRITERS_CHECKPOINT_PAGES: u32 = 2 * checkpoints::RESTART_FRAMES as u32;

/// How long a SQLite write waits for another connection's write transaction before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a SQLite connection sleeps between two looks at a write lock another one holds.
const BUSY_POLL: Duration = Duration::from_micros(100);

/// SQLite's busy handler for the connections that write (the service's and the order desk's):
/// `true` to try again after [`BUSY_POLL`], `false` to fail with `SQLITE_BUSY` once the sleeps
/// add up to [`BUSY_TIMEOUT`]. SQLite's own (`busy_timeout`) sleeps 1, 2, 5, 10 ms and longer
/// between looks, while an order batch holds the lock for about a millisecond: product updates
/// beside orders of random products ran at 510-580/s with p99 137-173 ms under it, 945-997/s and
/// 14-19 ms under this one.
pub(crate) fn wait_for_write_lock(attempts: i32) -> bool {
    if BUSY_POLL * u32::try_from(attempts).unwrap_or(0) >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

/// [`wait_for_write_lock`] as SQLite calls it.
extern "C" fn busy_handler(_: *mut std::ffi::c_void, attempts: std::ffi::c_int) -> std::ffi::c_int {
    std::ffi::c_int::from(wait_for_write_lock(attempts))
}

/// Now, truncated to microseconds: what both databases store, so a value read back equals the
/// value written (and the response to a write equals a later read).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    now - chrono::Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos() % 1000))
}

/// How many rows `select` matches: `COUNT(*)` on the filtered table itself (not over a subquery of
/// every column), so the databases can answer from an index.
pub async fn count<E: sea_orm::EntityTrait>(
    select: sea_orm::Select<E>,
    db: &impl sea_orm::ConnectionTrait,
) -> Result<u64, AppError> {
    use sea_orm::{QuerySelect, sea_query::Expr};
    let n: Option<i64> = select.select_only().column_as(Expr::cust("COUNT(*)"), "n").into_tuple().one(db).await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// How many items a listing matches: exactly, or at least `n` when a search stopped counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub n: u64,
    pub exact: bool,
}

impl Total {
    pub fn exact(n: u64) -> Self {
        Self { n, exact: true }
    }

    /// `n` items counted up to `cap`: reaching it, there may be more.
    pub fn counted(n: u64, cap: u64) -> Self {
        Self { n, exact: n < cap }
    }
}

/// A page of a listing: 1-based `number`, `size` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Page {
    pub number: u64,
    pub size: u64,
}

impl Page {
    pub fn offset(self) -> u64 {
        self.number.saturating_sub(1).saturating_mul(self.size)
    }
}

/// Escapes LIKE wildcards so a search for `50%` means the text `50%` (used with `ESCAPE '\'`).
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The 412 for a conditional update that found the resource at another version.
pub fn stale(kind: &str, expected: Option<i64>, current: i64) -> AppError {
    let expected = expected.map(|v| format!(" since ETag \"{v}\"")).unwrap_or_default();
    AppError::PreconditionFailed(format!("the {kind} has changed{expected}; its current ETag is \"{current}\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}
