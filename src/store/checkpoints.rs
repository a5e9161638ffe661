//! A SQLite file's write-ahead log copied back into the database off the writers' path.
//!
//! SQLite copies its log back into the database (a checkpoint) on the connection whose commit makes
//! the log pass `wal_autocheckpoint` pages (10,000: `store::options`), inside that commit: the
//! order batch that crossed it waited for up to 40 MiB to be copied and the file synced (orders of
//! random products at 10,000: p99 100-111 ms). A thread of its own copies what is committed every
//! [`ACTIVE`] while writes come, and looks less and less often when none do (at most every
//! [`IDLE`]). Its checkpoints are passive: they never wait for or block a writer or a reader, and
//! copy only the frames no reader still needs. The writers' own checkpoint stays: it finds the log
//! copied, so it costs little, and it lets the log start over from its beginning (a restart needs
//! the writer), which keeps the log's file at its size.

use std::sync::mpsc;
use std::time::Duration;

/// How often the log is copied back while writes come.
const ACTIVE: Duration = Duration::from_millis(25);
/// How often it is looked at when nothing was written.
const IDLE: Duration = Duration::from_secs(1);

/// The checkpointing thread of one SQLite file; it stops when this is dropped.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the SQLite file `path` (a database in WAL mode).
    pub fn start(path: String) -> Option<Self> {
        let (stop, stopped) = mpsc::channel();
        let spawned = std::thread::Builder::new().name("sqlite-checkpoints".into()).spawn(move || run(&path, &stopped));
        spawned.map_err(|error| tracing::error!(%error, "the checkpoint thread cannot start")).ok()?;
        Some(Self { _stop: stop })
    }
}

fn run(path: &str, stopped: &mpsc::Receiver<()>) {
    let conn = match connect(path) {
        Ok(conn) => conn,
        Err(error) => {
            // The writers' own checkpoints still copy the log.
            return tracing::error!(%error, "the checkpoint thread cannot open the database");
        }
    };
    let (mut wait, mut last) = (ACTIVE, None);
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
        // The frames in the log, and how many of them are in the database.
        let checkpoint = conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?)));
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

    #[test]
    fn what_is_committed_is_copied_back_without_a_writer_checkpointing() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("log.db");
        let writer = rusqlite::Connection::open(&path).expect("opens");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);",
            )
            .expect("writes");
        let (frames, copied) = log_index(&path);
        assert!(frames > 0 && copied == 0, "the writer copies nothing itself: {frames} frames, {copied} copied");

        let _checkpoints = Checkpointer::start(path.display().to_string()).expect("starts");
        assert_eq!(copied_back(&path), (frames, frames), "every frame is copied back");
        // Later writes too (the writer may have started the log over).
        writer.execute_batch("INSERT INTO t VALUES (4)").expect("writes");
        let (more, _) = log_index(&path);
        assert!(more > 0);
        assert_eq!(copied_back(&path), (more, more));
    }
}
