//! Where the hot reads run. On PostgreSQL, on the service's pool. On SQLite, on synchronous
//! connections of our own: sqlx drives each SQLite connection
//! from a thread of its own, so every query costs two thread hand-offs (the profiles showed a
//! product read spending most of its time switching threads, not in SQLite). A point read here is
//! a prepared statement's step, a few microseconds, on the request's thread; a listing or a search
//! (milliseconds over a large catalogue) goes to one of two reader threads, so it never holds up
//! the requests queued on its worker.
//!
//! The queries themselves are still built by sea-query (the same code builds them for both
//! databases), then run here with their values bound as sqlx would bind them, so a value compares
//! with what sqlx stored. These connections are `query_only`: writes go through sea-orm, in its
//! transactions, and the order desk's batches through its own connection (`sqlite_orders`). In
//! WAL mode each statement reads the latest commit, so a read after a write (on any connection)
//! sees it; a point reader keeps its read transaction between reads only while no commit has
//! been made since it began ([`Reader`]), so that holds for it too.

use std::sync::Mutex;

use rusqlite::types::Value as Sql;
use sea_orm::{DatabaseConnection, Statement, Value};
use uuid::Uuid;

use crate::error::AppError;

/// The service's reads: the pool, and on a SQLite file its synchronous readers.
#[derive(Clone)]
pub struct Reads {
    pub db: DatabaseConnection,
    sqlite: Option<std::sync::Arc<SqliteReaders>>,
    /// PostgreSQL: search words as its English dictionary stemmed them (`products::search_lexemes`).
    pub(crate) stems: std::sync::Arc<Mutex<std::collections::HashMap<String, Lexized>>>,
    /// PostgreSQL: the lexemes each searched prefix stands for (`products::prefix_lexemes`).
    pub prefixes: std::sync::Arc<Prefixes>,
    /// PostgreSQL: how common the index's lexemes are (`products::frequencies`).
    pub(crate) frequencies: std::sync::Arc<Mutex<Option<std::sync::Arc<Frequencies>>>>,
    /// The catalogue's search words in memory, within its budget (none: searched in
    /// the database).
    pub words: Option<std::sync::Arc<super::word_index::WordIndex>>,
}

/// The planner's statistics of the search index's lexemes, over `rows` products: anywhere in a
/// product, and in its name.
#[derive(Debug, Default)]
pub(crate) struct Frequencies {
    pub read: Option<std::time::Instant>,
    pub anywhere: Shares,
    pub names: Shares,
    pub rows: f64,
}

/// The share of products holding each of the most common lexemes, at most `floor` for any other.
#[derive(Debug, Default)]
pub(crate) struct Shares {
    pub common: std::collections::HashMap<String, f64>,
    pub floor: f64,
}

/// The index's lexemes a search prefix stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expansion {
    /// These, all of them (none: the prefix matches nothing).
    Lexemes(Vec<String>),
    /// More than a search spells out: the index is asked for the prefix itself.
    Many,
}

/// How long a prefix's lexemes are trusted: what another instance writes is found within it (as its
/// products are by the product cache's), what this one writes at once ([`Prefixes::changing`]).
const PREFIX_KEPT: std::time::Duration = std::time::Duration::from_secs(1);
/// At most this many prefixes are remembered (then all are forgotten at once).
const PREFIXES_KEPT: usize = 10_000;

/// Prefixes' lexemes as read from the search vocabulary, each for [`PREFIX_KEPT`]. A write of a
/// product's text starts a new generation when it begins and when it ends, and an answer read in an
/// earlier generation than the current one is neither served nor kept: a lexeme written here is
/// never missed by a search that starts after the write returns.
#[derive(Default)]
pub struct Prefixes {
    generation: std::sync::atomic::AtomicU64,
    known: Mutex<std::collections::HashMap<String, (u64, std::time::Instant, Expansion)>>,
}

impl Prefixes {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn get(&self, prefix: &str) -> Option<Expansion> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let (generation, read, expansion) = known.get(prefix)?;
        (*generation == self.generation() && read.elapsed() < PREFIX_KEPT).then(|| expansion.clone())
    }

    /// Keeps what was read in `generation`, unless a write began since.
    pub(crate) fn put(&self, generation: u64, read: std::time::Instant, found: Vec<(String, Expansion)>) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if generation != self.generation() {
            return;
        }
        if known.len() + found.len() > PREFIXES_KEPT {
            known.clear();
        }
        known.extend(found.into_iter().map(|(prefix, expansion)| (prefix, (generation, read, expansion))));
    }

    /// Marks a write of products' names or descriptions, until the guard is dropped.
    pub fn changing(self: &std::sync::Arc<Self>) -> Changing {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Changing(self.clone())
    }
}

/// A write of products' text under way; its end starts a new generation too.
pub struct Changing(std::sync::Arc<Prefixes>);

impl Drop for Changing {
    fn drop(&mut self) {
        self.0.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What `ts_lexize('english_stem', word)` made of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lexized {
    /// Not recognised (NULL).
    Unrecognised,
    /// A stop word (no lexeme).
    Stop,
    Stem(String),
}

impl Reads {
    /// Reads over `db`, which `url` opened; searches in memory within `search_index_bytes` where
    /// the catalogue's words fit.
    pub fn new(db: DatabaseConnection, url: &str, search_index_bytes: usize) -> Self {
        let sqlite = sqlite_file(url).map(|path| std::sync::Arc::new(SqliteReaders::new(path)));
        let words = super::word_index::WordIndex::new(search_index_bytes);
        Self {
            db,
            sqlite,
            stems: Default::default(),
            prefixes: Default::default(),
            frequencies: Default::default(),
            words: words.map(std::sync::Arc::new),
        }
    }

    /// The synchronous readers, on a SQLite file.
    pub fn sqlite(&self) -> Option<&SqliteReaders> {
        self.sqlite.as_deref()
    }
}

/// The file a `sqlite://` URL names (none for an in-memory database, which only its own
/// connections can see, or for PostgreSQL).
pub(crate) fn sqlite_file(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let (path, query) = rest.trim_start_matches("//").split_once('?').unwrap_or((rest.trim_start_matches("//"), ""));
    let memory = path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    (!memory).then(|| path.to_string())
}

/// Connections open at most for point reads, which run on the runtime's workers (two on two
/// cores); more would only queue inside SQLite, each with its page cache.
const CONNECTIONS: usize = 4;
/// Threads that run the long reads (listings, searches, their counts), each on a connection of
/// its own. Run under `block_in_place` instead, every search moved its worker's queue to a new
/// thread: 127 threads at 10,000 products under 32 clients, each with its own malloc arena.
const LONG_READERS: usize = 2;
/// Statements each connection keeps prepared (a listing's filters make a few dozen shapes).
const PREPARED: usize = 128;

/// A long read, run on one of the long readers' connections.
type Job = Box<dyn FnOnce(Result<&rusqlite::Connection, AppError>) + Send>;

/// Synchronous read-only connections to one SQLite file: checked out per point read, and owned by
/// the threads that run the long reads.
pub struct SqliteReaders {
    path: String,
    points: std::sync::Arc<Points>,
    /// The long readers' queue; they stop when it is dropped.
    long: std::sync::mpsc::Sender<Job>,
}

/// The point readers' connections, shared with the thread that ends their idle snapshots.
struct Points {
    pool: Mutex<Pool>,
    /// Signalled when a connection is given back.
    returned: std::sync::Condvar,
    /// Wakes the sweeper ([`sweep`]).
    sweep: std::sync::Condvar,
    /// How long an idle connection keeps its snapshot ([`HOLD`]).
    hold: std::time::Duration,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Reader>,
    open: usize,
    /// Checkouts waiting for a connection: only then is one woken (a `notify_one` is a system
    /// call even when nobody waits, and a point read gives a connection back every time).
    waiting: usize,
    /// The sweeper waits without a deadline: no idle connection held a snapshot.
    sweeper_asleep: bool,
    /// The readers are dropped: the sweeper ends.
    stopped: bool,
}

/// How long a point reader that is given back keeps its read transaction: what it holds stops the
/// log from being copied into the database (or from starting over) until then.
const HOLD: std::time::Duration = std::time::Duration::from_millis(5);

/// A point reader's connection, and the read transaction it kept open after its last read.
///
/// Each statement in autocommit mode begins a read transaction and ends it: in WAL mode that takes
/// and drops a lock on one of the log's read marks (with the process's mutex of the log's index,
/// and an `fcntl` whenever no other connection of the process holds that mark) and reads the
/// log's header. Under GETs of random ids of a million that was a tenth of the service's time
/// (`btreeBeginTrans` and `sqlite3VdbeHalt` in perf). A reader keeps its transaction instead, and
/// reuses it only while it sees exactly what a new one would: while the log's header in shared
/// memory is the one copied before the transaction's first read (every commit, and every restart
/// of the log, changes it), so a read after a write returned, on any connection of any process,
/// sees the write.
///
/// Only a transaction that reads the database alone is kept: one begun while every frame of the
/// log was copied into the database (read mark 0). One that reads the log would stop the log
/// from starting over for as long as it is held, and busy readers would hold one nearly all the
/// time (under reads and writes at once the log grew by a frame a commit); read mark 0 does not
/// stop a restart, and stops a checkpoint only while there is nothing to copy: the next commit
/// changes the header, and the reader's next read ends the transaction, and runs on its own until
/// the log is copied again. An idle connection's transaction ends after [`HOLD`] ([`sweep`]).
struct Reader {
    conn: rusqlite::Connection,
    index: Option<super::shared_map::LogIndex>,
    held: Option<Held>,
}

/// A read transaction kept open.
struct Held {
    /// The log's header copied before the transaction's first read.
    header: [u32; 12],
    /// The end of its last read.
    used: std::time::Instant,
}

impl Reader {
    fn open(path: &str) -> rusqlite::Result<Self> {
        let conn = connect(path)?;
        let index = super::shared_map::LogIndex::of(&conn);
        Ok(Self { conn, index, held: None })
    }

    /// Runs `read` in the transaction held if it is still current, else in a new one, which is
    /// then held if it reads the database alone.
    fn read<T>(&mut self, read: impl FnOnce(&rusqlite::Connection) -> Result<T, AppError>) -> Result<T, AppError> {
        // Read once, before any statement: the copy a new transaction keeps.
        let now = self.index.as_ref().and_then(super::shared_map::LogIndex::read);
        if self.held.as_ref().is_some_and(|held| now.is_none_or(|s| s.header != held.header)) {
            self.end();
        }
        if let (None, Some(state)) = (&self.held, now) {
            self.begin(state);
        }
        let result = read(&self.conn);
        match (&result, self.held.as_mut()) {
            (Ok(_), Some(held)) => held.used = std::time::Instant::now(),
            (Ok(_), None) => {}
            // Whatever failed, the next read starts afresh.
            (Err(_), _) => self.end(),
        }
        result
    }

    /// Opens a transaction to keep if every frame of the log is copied (`state`, copied before
    /// it: a commit in between only makes the copy older than the snapshot, so the next read
    /// starts a new one). Otherwise, and before the connection's first read (which maps the
    /// index), the read runs on its own.
    fn begin(&mut self, state: super::shared_map::LogState) {
        if state.copied != state.frames {
            return;
        }
        let begun = self.conn.prepare_cached("BEGIN").and_then(|mut begin| begin.execute([]));
        if begun.is_ok() {
            self.held = Some(Held { header: state.header, used: std::time::Instant::now() });
        }
    }

    /// Ends the transaction held, if any.
    fn end(&mut self) {
        self.held = None;
        if !self.conn.is_autocommit() {
            let ended = self.conn.prepare_cached("COMMIT").and_then(|mut commit| commit.execute([]));
            if ended.is_err() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
        }
    }
}

/// Ends the transactions of connections idle for [`Points::hold`], until the readers are dropped.
fn sweep(points: &Points) {
    let mut pool = points.pool.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if pool.stopped {
            return;
        }
        let now = std::time::Instant::now();
        let mut next: Option<std::time::Instant> = None;
        for reader in &mut pool.idle {
            let Some(held) = &reader.held else { continue };
            let due = held.used + points.hold;
            if due <= now {
                reader.end();
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        pool = match next {
            Some(due) => points.sweep.wait_timeout(pool, due - now).unwrap_or_else(|e| e.into_inner()).0,
            None => {
                pool.sweeper_asleep = true;
                points.sweep.wait(pool).unwrap_or_else(|e| e.into_inner())
            }
        };
    }
}

impl Drop for SqliteReaders {
    fn drop(&mut self) {
        self.points.pool.lock().unwrap_or_else(|e| e.into_inner()).stopped = true;
        self.points.sweep.notify_one();
    }
}

impl SqliteReaders {
    fn new(path: String) -> Self {
        Self::holding(path, HOLD)
    }

    /// Readers whose idle connections keep their snapshots for `hold`.
    fn holding(path: String, hold: std::time::Duration) -> Self {
        let (long, jobs) = std::sync::mpsc::channel::<Job>();
        let jobs = std::sync::Arc::new(Mutex::new(jobs));
        for n in 0..LONG_READERS {
            let (jobs, path) = (jobs.clone(), path.clone());
            let spawned = std::thread::Builder::new().name(format!("sqlite-reader-{n}")).spawn(move || {
                let mut conn = None;
                loop {
                    let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = job else { return };
                    if conn.is_none() {
                        conn = connect(&path)
                            .map_err(|error| tracing::error!(%error, "a reader cannot open the database"))
                            .ok();
                    }
                    let given = conn.as_ref().ok_or_else(|| AppError::Internal("the reader has no connection".into()));
                    // A panic fails its own request (its answer is dropped), not the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(given)));
                }
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "a reader thread cannot start");
            }
        }
        let points = std::sync::Arc::new(Points {
            pool: Mutex::new(Pool::default()),
            returned: std::sync::Condvar::new(),
            sweep: std::sync::Condvar::new(),
            hold,
        });
        let sweeper = points.clone();
        let spawned = std::thread::Builder::new().name("sqlite-snapshots".into()).spawn(move || sweep(&sweeper));
        if let Err(error) = spawned {
            // Idle connections would keep their snapshots: none is kept instead.
            tracing::error!(%error, "the snapshots' sweeper cannot start");
            points.pool.lock().unwrap_or_else(|e| e.into_inner()).stopped = true;
        }
        Self { path, points, long }
    }

    /// Runs `read` on a long reader's connection; the request waits without holding its worker.
    async fn long<T: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = answer.send(conn.and_then(read));
        });
        let stopped = || AppError::Internal("the database readers have stopped".into());
        self.long.send(job).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    /// A listing's or a search's statement (which over a large catalogue can take milliseconds),
    /// on a long reader, each row mapped with `row`.
    pub async fn query_long<T: Send + 'static>(
        &self,
        statement: Statement,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, AppError> {
        self.long(move |conn| run(conn, &statement, row)).await
    }

    /// Runs `read` on a long reader, in one read transaction: every statement of it sees the same
    /// snapshot of the database.
    pub async fn snapshot<T: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        self.long(move |conn| {
            conn.execute_batch("BEGIN").map_err(failed)?;
            let result = read(conn);
            // Nothing was written: the end of the transaction only lets the snapshot go.
            let ended = conn.execute_batch("COMMIT").map_err(failed);
            result.and_then(|value| ended.map(|()| value))
        })
        .await
    }

    /// Runs `statement` on a long reader, on a connection of that thread's own that maps nothing
    /// and caches 256 KiB of pages, and maps each row with `row`: for reads of the whole catalogue
    /// (the search index's loads and sweeps). Through the readers' map of the file, a load made
    /// every page of the products resident at once (at 10,000 products, beside a login's buffer, a
    /// peak RSS 6 MiB higher); through the pool it filled a page cache and sqlx copied every row;
    /// on blocking threads of their own, what they allocated stayed in their idle heaps (the
    /// bench's peak 65.3 MiB, against 59.4-60.7 here: the long readers allocate all the time).
    pub async fn query_unmapped<T: Send + 'static>(
        &self,
        statement: Statement,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, AppError> {
        thread_local! {
            static UNMAPPED: std::cell::RefCell<Option<rusqlite::Connection>> = const { std::cell::RefCell::new(None) };
        }
        let path = self.path.clone();
        self.long(move |_| {
            UNMAPPED.with(|cell| {
                let mut held = cell.borrow_mut();
                if held.is_none() {
                    *held = Some(connect_unmapped(&path).map_err(failed)?);
                }
                run(held.as_ref().expect("opened above"), &statement, row)
            })
        })
        .await
    }

    /// Runs `statement` and maps each row with `row`.
    pub fn query<T>(
        &self,
        statement: &Statement,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, AppError> {
        self.on_connection(|conn| run(conn, statement, row))
    }

    /// Runs `sql` with `params` bound, mapping each row with `row`: for a statement whose text is
    /// built once ([`Statement`]s are built per call).
    pub fn query_sql<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, AppError> {
        self.on_connection(|conn| run_sql(conn, sql, params, row))
    }

    /// Runs `read` on a connection checked out of the pool, then gives it back.
    fn on_connection<T>(&self, read: impl FnOnce(&rusqlite::Connection) -> Result<T, AppError>) -> Result<T, AppError> {
        let mut reader = self.checkout()?;
        let result = reader.read(read);
        self.give_back(reader);
        result
    }

    fn give_back(&self, mut reader: Reader) {
        let mut pool = self.points.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.stopped {
            // No sweeper ends what an idle connection holds.
            reader.end();
        }
        if reader.held.is_some() && pool.sweeper_asleep {
            pool.sweeper_asleep = false;
            self.points.sweep.notify_one();
        }
        pool.idle.push(reader);
        if pool.waiting > 0 {
            self.points.returned.notify_one();
        }
    }

    /// An idle connection, a new one while fewer than [`CONNECTIONS`] are open, or the next one
    /// given back.
    fn checkout(&self) -> Result<Reader, AppError> {
        let mut pool = self.points.pool.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(reader) = pool.idle.pop() {
                return Ok(reader);
            }
            if pool.open < CONNECTIONS {
                pool.open += 1;
                drop(pool);
                return Reader::open(&self.path).map_err(|e| {
                    self.points.pool.lock().unwrap_or_else(|e| e.into_inner()).open -= 1;
                    self.points.returned.notify_one();
                    failed(e)
                });
            }
            pool.waiting += 1;
            pool = self.points.returned.wait(pool).unwrap_or_else(|e| e.into_inner());
            pool.waiting -= 1;
        }
    }
}

/// A read-only connection to the file `path`.
fn connect(path: &str) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    // Pages come from one memory map of the file that every reader shares (`shared_map`), up to
    // its first 32 MiB; past that (a large catalogue), and for the writers (`store::options`), they
    // are read with `pread` into the connection's page cache (SQLite's default, 2 MiB). With a map
    // per connection, as SQLite makes them, every page a connection touched was resident once per
    // connection. Measured on one machine (2 cores, Intel Xeon; wrk -c32, A/B): at 10,000
    // products, with four 256 MiB maps the peak RSS was 80-87 MiB, with no map 62-63 MiB but
    // random GETs 7% slower, searches 9%, deep pages 13%; at a million products, with the maps
    // random GETs ran at 51.3k-52.1k/s and peaked at 439 MiB, with none at 48.3k-49.1k/s and 57 MiB.
    let (conn, map) = if super::shared_map::register() {
        (
            rusqlite::Connection::open_with_flags_and_vfs(path, flags, super::shared_map::VFS)?,
            super::shared_map::MAP_LIMIT,
        )
    } else {
        (rusqlite::Connection::open_with_flags(path, flags)?, 0)
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(&format!("PRAGMA query_only = 1; PRAGMA mmap_size = {map};"))?;
    // One plan per statement, whatever its values: otherwise SQLite prepares a statement again
    // whenever a value its plan looked at changes, and it looks at every `LIMIT ?` and
    // `OFFSET ?` (each new page of a search was a new FTS5 statement to parse: 14% of the time).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(PREPARED);
    Ok(conn)
}

/// A read-only connection to the file `path` that maps nothing and caches few pages
/// ([`SqliteReaders::query_unmapped`]).
fn connect_unmapped(path: &str) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch("PRAGMA query_only = 1; PRAGMA mmap_size = 0; PRAGMA cache_size = -256;")?;
    Ok(conn)
}

/// Runs `statement` on `conn` (its values bound as sqlx binds them) and maps each row with `row`.
pub fn run<T>(
    conn: &rusqlite::Connection,
    statement: &Statement,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, AppError> {
    let values = statement.values.as_ref().map(|v| v.0.as_slice()).unwrap_or_default();
    let params = values.iter().map(bind).collect::<Result<Vec<_>, _>>()?;
    run_sql(conn, &statement.sql, rusqlite::params_from_iter(params), row)
}

/// Runs `sql` on `conn` with `params` bound, and maps each row with `row`.
fn run_sql<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, AppError> {
    let mut prepared = conn.prepare_cached(sql).map_err(failed)?;
    let mapped = prepared.query_map(params, |r| row(r)).map_err(failed)?;
    mapped.collect::<rusqlite::Result<Vec<T>>>().map_err(failed)
}

/// Runs `statement` on `conn`, handing each row's first column, an integer, to `row` until it
/// returns false or the rows run out.
pub fn scan(
    conn: &rusqlite::Connection,
    statement: &Statement,
    row: &mut dyn FnMut(i64) -> bool,
) -> Result<(), AppError> {
    let values = statement.values.as_ref().map(|v| v.0.as_slice()).unwrap_or_default();
    let params = values.iter().map(bind).collect::<Result<Vec<_>, _>>()?;
    let mut prepared = conn.prepare_cached(&statement.sql).map_err(failed)?;
    let mut rows = prepared.query(rusqlite::params_from_iter(params)).map_err(failed)?;
    while let Some(next) = rows.next().map_err(failed)? {
        if !row(next.get(0).map_err(failed)?) {
            break;
        }
    }
    Ok(())
}

/// A rusqlite error as the service reports it.
pub(crate) fn failed(e: rusqlite::Error) -> AppError {
    AppError::Internal(format!("database: {e}"))
}

/// A sea-query value as sqlx-sqlite binds it: uuids as 16-byte blobs, times as RFC 3339 text with
/// as many fraction digits as they need, JSON as text, booleans as 0/1.
fn bind(value: &Value) -> Result<Sql, AppError> {
    fn or_null<T>(v: &Option<T>, f: impl FnOnce(&T) -> Sql) -> Sql {
        v.as_ref().map_or(Sql::Null, f)
    }
    Ok(match value {
        Value::Bool(v) => or_null(v, |b| Sql::Integer(i64::from(*b))),
        Value::TinyInt(v) => or_null(v, |n| Sql::Integer((*n).into())),
        Value::SmallInt(v) => or_null(v, |n| Sql::Integer((*n).into())),
        Value::Int(v) => or_null(v, |n| Sql::Integer((*n).into())),
        Value::BigInt(v) => or_null(v, |n| Sql::Integer(*n)),
        Value::TinyUnsigned(v) => or_null(v, |n| Sql::Integer((*n).into())),
        Value::SmallUnsigned(v) => or_null(v, |n| Sql::Integer((*n).into())),
        Value::Unsigned(v) => or_null(v, |n| Sql::Integer((*n).into())),
        Value::BigUnsigned(v) => match v {
            Some(n) => Sql::Integer(i64::try_from(*n).map_err(|_| AppError::Internal(format!("{n} is out of range")))?),
            None => Sql::Null,
        },
        Value::Float(v) => or_null(v, |n| Sql::Real((*n).into())),
        Value::Double(v) => or_null(v, |n| Sql::Real(*n)),
        Value::String(v) => or_null(v, |s| Sql::Text(s.clone())),
        Value::Bytes(v) => or_null(v, |b| Sql::Blob(b.clone())),
        Value::Uuid(v) => or_null(v, |u| Sql::Blob(u.as_bytes().to_vec())),
        Value::Json(v) => or_null(v, |j| Sql::Text(j.to_string())),
        Value::ChronoDateTimeUtc(v) => or_null(v, |t| Sql::Text(text_time(*t))),
        other => return Err(AppError::Internal(format!("no SQLite binding for {other:?}"))),
    })
}

/// A time as sqlx-sqlite stores it.
pub fn text_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// A uuid column (16-byte blob, as sqlx stores it).
pub fn uuid(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    let bytes: &[u8] = row.get_ref(index)?.as_blob()?;
    Uuid::from_slice(bytes)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Blob, e.into()))
}

/// A time column as sqlx stores and reads it: RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f]` in UTC.
pub fn time(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<chrono::DateTime<chrono::Utc>> {
    let text = row.get_ref(index)?.as_str()?;
    parse_time(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("{text:?} is not a time").into(),
        )
    })
}

fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc())
}

/// An optional time column.
pub fn optional_time(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Option<chrono::DateTime<chrono::Utc>>> {
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => time(row, index).map(Some),
    }
}

/// A JSON column (text).
pub fn json(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<serde_json::Value> {
    let text = row.get_ref(index)?.as_str()?;
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::shared_map::log_index;

    #[test]
    fn only_a_file_gets_synchronous_readers() {
        assert_eq!(sqlite_file("sqlite://commerce.db?mode=rwc").as_deref(), Some("commerce.db"));
        assert_eq!(sqlite_file("sqlite:///tmp/x/test.db").as_deref(), Some("/tmp/x/test.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://shared?mode=memory&cache=shared"), None);
        assert_eq!(sqlite_file("postgres://postgres@127.0.0.1/test"), None);
    }

    #[test]
    fn point_reads_on_more_threads_than_connections_each_get_one_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reads.db").display().to_string();
        rusqlite::Connection::open(&path).unwrap().execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        let readers = std::sync::Arc::new(SqliteReaders::new(path));
        let (done, finished) = std::sync::mpsc::channel();
        for thread in 0..4 * CONNECTIONS as i64 {
            let (readers, done) = (readers.clone(), done.clone());
            std::thread::spawn(move || {
                for n in 0..300 {
                    let read = readers.query_sql("SELECT ?1 * 1000 + ?2", [thread, n], |row| row.get::<_, i64>(0));
                    assert_eq!(read.unwrap(), [thread * 1000 + n]);
                }
                done.send(()).unwrap();
            });
        }
        for _ in 0..4 * CONNECTIONS {
            // A checkout that missed its wake-up would wait here for ever.
            finished.recv_timeout(std::time::Duration::from_secs(20)).expect("every thread finished its reads");
        }
        let pool = readers.points.pool.lock().unwrap();
        assert!(pool.open <= CONNECTIONS, "{} connections opened", pool.open);
        assert_eq!((pool.idle.len(), pool.waiting), (pool.open, 0));
    }

    /// A file in WAL mode with a table `t` of one row, `v` = 0, and a writer connection to it.
    fn one_row(name: &str) -> (tempfile::TempDir, String, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name).display().to_string();
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL); INSERT INTO t VALUES (1, 0);",
            )
            .unwrap();
        (dir, path, writer)
    }

    fn value(readers: &SqliteReaders) -> i64 {
        readers.query_sql("SELECT v FROM t WHERE id = 1", [], |row| row.get(0)).unwrap()[0]
    }

    #[test]
    fn a_point_read_sees_every_commit_made_before_it_on_any_connection() {
        let (_dir, path, writer) = one_row("fresh.db");
        let readers = std::sync::Arc::new(SqliteReaders::new(path));
        let written = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Readers on every connection, each read checked against the last commit that returned
        // before it began.
        let threads: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let (readers, written, stop) = (readers.clone(), written.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut reads = 0;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let before = written.load(std::sync::atomic::Ordering::SeqCst);
                        let seen = value(&readers);
                        assert!(seen >= before, "read {seen} after {before} was committed");
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for n in 1..=2_000 {
            writer.execute("UPDATE t SET v = ?1 WHERE id = 1", [n]).unwrap();
            written.store(n, std::sync::atomic::Ordering::SeqCst);
            if n % 5 == 0 {
                // Copied into the database now and then, as the checkpointer does: the readers
                // then keep their transactions until the next commit.
                writer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
            }
            assert_eq!(value(&readers), n);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let reads: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(reads > 2_000, "{reads} reads beside the writes");
    }

    #[test]
    fn a_reader_keeps_its_transaction_while_the_log_is_copied_and_nothing_is_written() {
        let (_dir, path, writer) = one_row("kept.db");
        let readers = SqliteReaders::new(path);
        let held = |readers: &SqliteReaders| {
            let pool = readers.points.pool.lock().unwrap();
            pool.idle.iter().find_map(|r| r.held.as_ref().map(|h| h.header))
        };
        let copy = || writer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
        // The first read maps the log's index; the log holds frames not copied: nothing is kept.
        assert_eq!(value(&readers), 0);
        assert_eq!(value(&readers), 0);
        assert_eq!(held(&readers), None);
        copy();
        assert_eq!(value(&readers), 0);
        let first = held(&readers).expect("a transaction kept");
        assert_eq!(value(&readers), 0);
        assert_eq!(held(&readers), Some(first), "the same transaction");
        // A commit ends it; the next one is kept once the log is copied again.
        writer.execute("UPDATE t SET v = 1 WHERE id = 1", []).unwrap();
        assert_eq!(value(&readers), 1);
        assert_eq!(held(&readers), None);
        copy();
        assert_eq!(value(&readers), 1);
        assert_ne!(held(&readers).expect("a transaction kept"), first);
    }

    #[test]
    fn an_idle_reader_lets_the_log_be_copied_and_start_over() {
        let (_dir, path, writer) = one_row("idle.db");
        let hold = std::time::Duration::from_millis(300);
        let readers = SqliteReaders::holding(path.clone(), hold);
        for n in 1..=2 {
            writer.execute("UPDATE t SET v = ?1 WHERE id = 1", [n]).unwrap();
            writer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
            assert_eq!(value(&readers), n);
        }
        // The reader reads the database alone: what is written after it cannot be copied into
        // the database while the reader holds its transaction...
        for n in 3..=22 {
            writer.execute("UPDATE t SET v = ?1 WHERE id = 1", [n]).unwrap();
        }
        writer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
        let (frames, copied) = log_index(&path);
        assert!(
            frames >= 20 && copied < frames,
            "{copied} of {frames} frames copied while the reader holds its snapshot"
        );
        // ...and can once it has been idle for its hold.
        std::thread::sleep(hold * 2);
        writer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
        let (frames, copied) = log_index(&path);
        assert_eq!(copied, frames, "every frame copied after the hold");
        // The next write starts the log over (one transaction's frames in it).
        writer.execute("UPDATE t SET v = 23 WHERE id = 1", []).unwrap();
        assert!(log_index(&path).0 < frames, "the log started over");
        assert_eq!(value(&readers), 23);
    }

    #[test]
    fn under_reads_and_writes_at_once_the_log_keeps_starting_over() {
        let (_dir, path, writer) = one_row("busy.db");
        let readers = std::sync::Arc::new(SqliteReaders::new(path.clone()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (readers, stop) = (readers.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        value(&readers);
                    }
                })
            })
            .collect();
        // Writes in bursts, each followed by a checkpoint, as the checkpointer copies them: a
        // reader that kept reading the log would stop it from starting over, and it would grow.
        let mut most = 0;
        for n in 1..=3_000 {
            writer.execute("UPDATE t SET v = ?1 WHERE id = 1", [n]).unwrap();
            if n % 10 == 0 {
                writer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)").unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            most = most.max(log_index(&path).0);
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert!(most < 1_000, "the log reached {most} frames for 3,000 commits of one page");
    }

    #[test]
    fn times_read_back_as_sqlx_writes_them() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-04T19:10:46.123456Z").unwrap().to_utc();
        let Sql::Text(text) = bind(&Value::ChronoDateTimeUtc(Some(t))).unwrap() else { panic!("not text") };
        assert_eq!(text, "2026-12-04T19:10:46.123456+00:00");
        assert_eq!(parse_time(&text), Some(t));
        assert_eq!(parse_time("2026-12-04 19:10:46.123456"), Some(t));
    }
}
