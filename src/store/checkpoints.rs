//! A SQLite file's write-ahead log copied back into the database off the writers' path, and started
//! over.
//!
//! SQLite copies its log back into the database (a checkpoint) on the connection whose commit makes
//! the log pass `wal_autocheckpoint` pages, inside that commit: the order batch that crossed it
//! waited for up to 40 MiB to be copied and the file synced (orders of random products at 10,000:
//! p99 100-111 ms). A thread of its own copies what is committed every [`ACTIVE`] while writes
//! come, and looks less and less often when none do (at most every [`IDLE`]), but the order desk's
//! next batch wakes it at once: a burst of orders after a quiet spell had the log to itself for up
//! to a second, ran it past the writers' own threshold and copied it in a commit (orders of random
//! products at 10,000 after 5 s idle, by hand: p99 42-69 ms a 4 s round, against 9-12 ms without
//! the pause). Its checkpoints are passive: they never wait for or block a writer or a reader, and
//! copy only the frames no reader still needs.
//!
//! A log starts over from its beginning only when a writer begins a transaction with every frame
//! copied, which under a steady stream of orders a passive checkpoint never sees: the desk commits
//! again while it copies. Once the log holds [`RESTART_FRAMES`], the checkpoint holds the order
//! desk back ([`LogGate`]) for the moment it takes to copy the frames committed since its last look,
//! and the desk's next batch starts the log over. Before it holds the desk, it copies again without
//! holding it until a copy finds few frames committed during the one before ([`catch_up`]): held
//! right after its copy of the whole log, the desk waited while the frames committed during that
//! copy (381-4,738) were copied and synced, 6-10 ms and up to 22 ms (orders of random products at
//! 10,000, by hand); after the copies that catch up, 4.9 ms at the median and at most 8.6 ms (the
//! held copy still syncs the log and the database). Without the gate, the log ran to the writers'
//! own threshold and the desk's commit copied and synced it itself, five to seven times a second
//! (orders of random products at 10,000, by hand, alternating: 13.0k-14.4k/s, against
//! 13.5k-17.0k/s this way; started over at 8,192 frames, 14.9k-17.2k/s against 16.6k-19.0k/s at
//! 16,384: each start costs the desk a pause and a sync of the log's new header). The writers' own
//! checkpoint stays as the backstop (`store::WRITERS_CHECKPOINT_PAGES`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

/// How often the log is copied back while writes come.
const ACTIVE: Duration = Duration::from_millis(25);
/// How often it is looked at when nothing was written.
const IDLE: Duration = Duration::from_secs(1);

/// How many frames the log holds before a checkpoint holds the order desk back to let it start
/// over: 64 MiB of log at 4 KiB pages.
pub const RESTART_FRAMES: i64 = 16_384;

/// How many frames committed during one copy are left for the copy that holds the desk back.
const HELD_TAIL: i64 = 256;
/// At most how many copies catch up with the desk before one holds it back.
const CATCH_UP: usize = 4;

/// Between the order desk's batches and the checkpoints that let the log start over: the desk
/// passes it for each batch; a checkpoint holds it, and the desk's next batch waits until it is done.
#[derive(Default)]
pub struct LogGate {
    state: Mutex<Gate>,
    changed: Condvar,
}

#[derive(Default)]
struct Gate {
    /// A checkpoint waits for the batch being written, or runs.
    held: bool,
    /// The desk is writing a batch.
    writing: bool,
    /// Batches written so far.
    written: u64,
    /// The checkpoints' thread, idle, waits for the next batch.
    watched: bool,
}

impl LogGate {
    /// The gate's state (a panic elsewhere while it was held leaves it as it was: flags and a count).
    fn state(&self) -> MutexGuard<'_, Gate> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits while `condition` holds of the state.
    fn wait_while<'a>(&self, gate: MutexGuard<'a, Gate>, condition: fn(&mut Gate) -> bool) -> MutexGuard<'a, Gate> {
        self.changed.wait_while(gate, condition).unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `write` (a batch) once no checkpoint holds the gate; a checkpoint waits for it.
    pub fn pass<T>(&self, write: impl FnOnce() -> T) -> T {
        self.wait_while(self.state(), |gate| gate.held).writing = true;
        let written = write();
        let mut gate = self.state();
        gate.writing = false;
        gate.written += 1;
        if gate.held || gate.watched {
            self.changed.notify_all();
        }
        written
    }

    /// Waits until the desk writes a batch, for `timeout` at the most.
    fn await_batch(&self, timeout: Duration) {
        let mut gate = self.state();
        let seen = gate.written;
        gate.watched = true;
        let (mut gate, _) = self
            .changed
            .wait_timeout_while(gate, timeout, |gate| gate.written == seen)
            .unwrap_or_else(PoisonError::into_inner);
        gate.watched = false;
    }

    /// Runs `checkpoint` once the batch being written is done, with no batch started meanwhile.
    fn hold<T>(&self, checkpoint: impl FnOnce() -> T) -> T {
        let mut gate = self.state();
        gate.held = true;
        drop(self.wait_while(gate, |gate| gate.writing));
        let done = checkpoint();
        self.state().held = false;
        self.changed.notify_all();
        done
    }
}

/// The checkpointing thread of one SQLite file; it stops when this is dropped (idle, at its next
/// look, within [`IDLE`]).
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the SQLite file `path` (a database in WAL mode), starting its log over
    /// at [`RESTART_FRAMES`] with the writers that pass `gate` held back.
    pub fn start(path: String, gate: Arc<LogGate>) -> Option<Self> {
        Self::restarting_at(path, gate, RESTART_FRAMES)
    }

    fn restarting_at(path: String, gate: Arc<LogGate>, restart_frames: i64) -> Option<Self> {
        let (stop, stopped) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("sqlite-checkpoints".into())
            .spawn(move || run(&path, &gate, restart_frames, &stopped));
        spawned.map_err(|error| tracing::error!(%error, "the checkpoint thread cannot start")).ok()?;
        Some(Self { _stop: stop })
    }
}

fn run(path: &str, gate: &LogGate, restart_frames: i64, stopped: &mpsc::Receiver<()>) {
    let conn = match connect(path) {
        Ok(conn) => conn,
        Err(error) => {
            // The writers' own checkpoints still copy the log.
            return tracing::error!(%error, "the checkpoint thread cannot open the database");
        }
    };
    let (mut wait, mut last) = (ACTIVE, None);
    loop {
        // While writes come, a copy every ACTIVE; idle, the desk's next batch wakes the thread
        // (other writers' commits wait for the longer look).
        let stop = if wait > ACTIVE {
            gate.await_batch(wait);
            !matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty))
        } else {
            !matches!(stopped.recv_timeout(wait), Err(mpsc::RecvTimeoutError::Timeout))
        };
        if stop {
            break;
        }
        // The frames in the log, and how many of them are in the database.
        let passive = || {
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
            })
        };
        // Past `restart_frames`, the copies catch up with the desk, and what was committed during
        // the last of them is copied with the desk held back, so that its next batch starts the log
        // over.
        let checkpoint = match passive() {
            Ok((frames, _)) if frames >= restart_frames => catch_up(frames, passive).and_then(|_| gate.hold(passive)),
            other => other,
        };
        match checkpoint {
            Ok(frames) if last != Some(frames) => (last, wait) = (Some(frames), ACTIVE),
            Ok(_) => wait = (wait * 2).min(IDLE),
            Err(error) => {
                tracing::warn!(%error, "a checkpoint failed");
                wait = IDLE;
            }
        }
    }
}

/// Copies, without holding the desk back, what was committed while the last checkpoint copied
/// (which copied the log's first `frames`), until what one copy finds committed since the one before
/// is at most [`HELD_TAIL`] frames, or after [`CATCH_UP`] copies: the checkpoint that holds the desk
/// back then has that much to copy.
fn catch_up(mut frames: i64, mut passive: impl FnMut() -> rusqlite::Result<(i64, i64)>) -> rusqlite::Result<i64> {
    for _ in 0..CATCH_UP {
        let (now, _) = passive()?;
        let tail = now - frames;
        frames = now;
        if tail <= HELD_TAIL {
            break;
        }
    }
    Ok(frames)
}

fn connect(path: &str) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A checkpoint reads the log's frames and writes the database's pages: nothing to map.
    conn.execute_batch("PRAGMA mmap_size = 0;")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::shared_map::log_index;

    /// Waits up to 5 s for every frame of the log to be copied back; the log's index then.
    fn copied_back(path: &std::path::Path) -> (u32, u32) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while log_index(path).0 != log_index(path).1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        log_index(path)
    }

    /// `log.db` in `dir`, in WAL mode with a table `t (x)`, and a connection to it that never
    /// copies its log back itself.
    fn writer_in(dir: &tempfile::TempDir) -> (std::path::PathBuf, rusqlite::Connection) {
        let path = dir.path().join("log.db");
        let writer = rusqlite::Connection::open(&path).expect("opens");
        writer
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x);")
            .expect("writes");
        (path, writer)
    }

    #[test]
    fn what_is_committed_is_copied_back_without_a_writer_checkpointing() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (path, writer) = writer_in(&dir);
        writer.execute_batch("INSERT INTO t VALUES (1), (2), (3)").expect("writes");
        let (frames, copied) = log_index(&path);
        assert!(frames > 0 && copied == 0, "the writer copies nothing itself: {frames} frames, {copied} copied");

        let _checkpoints = Checkpointer::start(path.display().to_string(), Arc::default()).expect("starts");
        assert_eq!(copied_back(&path), (frames, frames), "every frame is copied back");
        // Later writes too (the writer may have started the log over).
        writer.execute_batch("INSERT INTO t VALUES (4)").expect("writes");
        let (more, _) = log_index(&path);
        assert!(more > 0);
        assert_eq!(copied_back(&path), (more, more));
    }

    /// A writer that commits without pause and never checkpoints itself (as the order desk does
    /// under load): its log starts over each time it passes the threshold, and nothing is lost.
    #[test]
    fn a_log_written_without_pause_starts_over_at_its_threshold() {
        const THRESHOLD: i64 = 200;
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("log.db");
        let gate = Arc::new(LogGate::default());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (created, ready) = mpsc::channel();
        let writer = std::thread::spawn({
            let (path, gate, stop) = (path.clone(), gate.clone(), stop.clone());
            move || {
                let conn = rusqlite::Connection::open(&path).expect("opens");
                conn.execute_batch(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; \
                     CREATE TABLE t (x BLOB); CREATE INDEX t_x ON t (x);",
                )
                .expect("creates");
                created.send(()).expect("sends");
                let mut written = 0_i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    gate.pass(|| conn.execute("INSERT INTO t VALUES (randomblob(600))", [])).expect("writes");
                    written += 1;
                }
                written
            }
        });
        ready.recv().expect("the table is created");
        let _checkpoints = Checkpointer::restarting_at(path.display().to_string(), gate, THRESHOLD).expect("starts");
        let (mut restarts, mut longest, mut last) = (0, 0, 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while restarts < 5 && std::time::Instant::now() < deadline {
            let (frames, _) = log_index(&path);
            if frames < last {
                restarts += 1;
            }
            (longest, last) = (longest.max(frames), frames);
            std::thread::sleep(Duration::from_micros(200));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writer.join().expect("the writer ends");
        assert!(restarts >= 5, "the log started over {restarts} times in 20 s; it reached {longest} frames");
        assert!(longest >= THRESHOLD as u32, "{longest}");
        let reader = rusqlite::Connection::open(&path).expect("opens");
        let rows: i64 = reader.query_row("SELECT count(*) FROM t", [], |row| row.get(0)).expect("counts");
        assert_eq!(rows, written, "every committed row is in the database");
    }

    /// The copies before the one that holds the desk back go on while each finds many frames
    /// committed during the one before, and stop at the first that finds few, or after
    /// [`CATCH_UP`] of them.
    #[test]
    fn copies_catch_up_until_few_frames_were_committed_during_the_last() {
        // What each copy finds in the log, after one that found 20,000 frames.
        let copies = |found: Vec<i64>| {
            let mut found = found.into_iter();
            let mut made = 0;
            let caught = catch_up(20_000, || {
                made += 1;
                Ok((found.next().expect("no more copies than planned"), 0))
            });
            (caught.expect("copies"), made)
        };
        // 1,500 committed during the first copy, 400 during the next, then 100: held after that.
        assert_eq!(copies(vec![21_500, 21_900, 22_000, 30_000]), (22_000, 3));
        assert_eq!(copies(vec![20_000 + HELD_TAIL]), (20_000 + HELD_TAIL, 1));
        // A desk outrunning every copy is held back after CATCH_UP of them.
        let outrun: Vec<i64> = (1..=10).map(|n| 20_000 + n * 1_000).collect();
        assert_eq!(copies(outrun), (20_000 + CATCH_UP as i64 * 1_000, CATCH_UP));
        // A log started over meanwhile (fewer frames than before) has nothing left to catch up.
        assert_eq!(copies(vec![300, 400]), (300, 1));
        // A failed copy is the checkpoint's failure.
        assert!(catch_up(20_000, || Err(rusqlite::Error::InvalidQuery)).is_err());
    }

    /// Idle, the thread looks at the log every second at most; the desk's next batch wakes it, so
    /// what the batch wrote is copied back at once, not up to a second later.
    #[test]
    fn the_desk_s_first_batch_after_a_quiet_spell_is_copied_back_at_once() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (path, writer) = writer_in(&dir);
        let gate = Arc::new(LogGate::default());
        let _checkpoints = Checkpointer::start(path.display().to_string(), gate.clone()).expect("starts");
        for _ in 0..2 {
            // Quiet for longer than the looks' backing off takes to reach IDLE (1.575 s).
            std::thread::sleep(Duration::from_millis(1_700));
            let committed = std::time::Instant::now();
            gate.pass(|| writer.execute_batch("INSERT INTO t VALUES (randomblob(20000))")).expect("writes");
            let (frames, copied) = copied_back(&path);
            assert!(frames > 0 && copied == frames, "{copied} of {frames} frames copied back");
            let took = committed.elapsed();
            assert!(took < Duration::from_millis(250), "copied back {took:?} after the batch");
        }
    }

    /// A checkpoint holding the gate waits for the batch being written, and the next batch waits
    /// for it.
    #[test]
    fn the_gate_holds_between_batches() {
        let gate = Arc::new(LogGate::default());
        let events = Arc::new(Mutex::new(Vec::new()));
        let (writing, written) = mpsc::channel();
        let desk = std::thread::spawn({
            let (gate, events) = (gate.clone(), events.clone());
            move || {
                gate.pass(|| {
                    writing.send(()).expect("sends");
                    std::thread::sleep(Duration::from_millis(50));
                    events.lock().expect("lock").push("first batch");
                });
            }
        });
        written.recv().expect("the batch began");
        let checkpoint = std::thread::spawn({
            let (gate, events) = (gate.clone(), events.clone());
            move || {
                gate.hold(|| {
                    events.lock().expect("lock").push("checkpoint");
                    std::thread::sleep(Duration::from_millis(50));
                    events.lock().expect("lock").push("checkpoint done");
                });
            }
        });
        // The next batch arrives while the checkpoint waits or runs.
        std::thread::sleep(Duration::from_millis(20));
        gate.pass(|| events.lock().expect("lock").push("second batch"));
        desk.join().expect("the desk ends");
        checkpoint.join().expect("the checkpoint ends");
        assert_eq!(*events.lock().expect("lock"), ["first batch", "checkpoint", "checkpoint done", "second batch"]);
    }
}
