//! One memory map of a SQLite file for all of the service's readers: a VFS that is SQLite's own
//! (`unix`) in every respect but `xFetch`, which hands out pages from a map shared per file instead
//! of one map per connection.
//!
//! SQLite's own maps are per connection, and a page counts in the process's resident memory once
//! per map that touched it: the readers' four maps of one 10,000-product file held about 30 MiB
//! (one shared map, 9 MiB), at a million products about 440 MiB. Without any map the readers copy
//! each page into their own caches with `pread` (random GETs 7% slower, searches 9%, deep pages
//! 13% at 10,000 products: measured in `reads::connect`). Here the map is made once per file, covers at most its first
//! [`MAP_LIMIT`] bytes (pages past it are read as without a map), and lives while a connection
//! to the file is open.
//!
//! A page is handed out only while it lies within the file as last measured (`fstat` again when a
//! page past that is asked for): SQLite asks only for pages of its read snapshot that are not in the
//! write-ahead log, which the file holds; the file only grows while the service runs (no `VACUUM`,
//! no `auto_vacuum`). The map is read-only (`PROT_READ`), as SQLite's own is.
//!
//! The descriptor the map is made from is never closed while the process runs, and a file is
//! looked up by `stat`, not by opening it: on Unix, closing any descriptor of a file drops every
//! POSIX lock the process holds on it, whichever descriptor took it. A connection in WAL mode holds
//! a shared lock on the database file as long as it is open, which tells another process's last
//! connection not to delete the log on closing; SQLite's own files defer such closes, and this
//! VFS's lookups of the map, one per reader connection opened, had been closing a descriptor.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rusqlite::ffi;

/// The VFS's name, for `Connection::open_with_flags_and_vfs`.
pub const VFS: &CStr = c"commerce-shared-map";

/// How much of a file is mapped: pages past it are read with `pread`. It bounds what the map adds
/// to the resident memory: a million products make a file of 1 GB, and with 64 MiB mapped the
/// service peaked at 118-126 MiB there (the target is 128 MB); 10,000 make 10 MiB.
pub const MAP_LIMIT: usize = 32 << 20;

/// Registers the VFS (once); false if SQLite has no `unix` VFS to build on or refused it.
pub fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: SQLite initialises itself on `sqlite3_vfs_find`; the `unix` VFS it returns lives
        // as long as the process. Ours is a copy of it with our `xOpen` and a larger file object,
        // leaked so that it lives as long too.
        unsafe {
            let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
            if unix.is_null() {
                return false;
            }
            let _ = UNIX.set(Unix(unix));
            let mut ours = *unix;
            ours.pNext = std::ptr::null_mut();
            ours.zName = VFS.as_ptr();
            ours.szOsFile = (std::mem::size_of::<File>() + (*unix).szOsFile as usize) as c_int;
            ours.xOpen = Some(open);
            ffi::sqlite3_vfs_register(Box::leak(Box::new(ours)), 0) == ffi::SQLITE_OK
        }
    })
}

/// SQLite's `unix` VFS.
struct Unix(*mut ffi::sqlite3_vfs);
// SAFETY: SQLite's VFS objects are immutable once registered and used from any thread.
unsafe impl Send for Unix {}
unsafe impl Sync for Unix {}
static UNIX: OnceLock<Unix> = OnceLock::new();

/// A map of the first [`MAP_LIMIT`] bytes of one file (past its end too: those pages become
/// readable as the file grows over them).
struct Map {
    addr: *mut u8,
    /// Bytes of the file known to exist.
    known: AtomicU64,
    /// Never closed: see the module's documentation.
    file: std::mem::ManuallyDrop<std::fs::File>,
}

// SAFETY: the map is read-only memory and `known` is atomic.
unsafe impl Send for Map {}
unsafe impl Sync for Map {}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the map was made by `Map::of` with this length, and the last connection that
        // could hand out its pages has closed.
        unsafe { libc::munmap(self.addr.cast(), MAP_LIMIT) };
    }
}

/// The maps of the files open through this VFS, by device and inode.
type Maps = HashMap<(u64, u64), Weak<Map>>;
static MAPS: Mutex<Option<Maps>> = Mutex::new(None);

impl Map {
    /// The map of the file at `path`, made if no open connection has one.
    fn of(path: &CStr) -> Option<Arc<Map>> {
        let meta = std::fs::metadata(path.to_str().ok()?).ok()?;
        let mut maps = MAPS.lock().unwrap_or_else(|e| e.into_inner());
        let maps = maps.get_or_insert_with(HashMap::new);
        maps.retain(|_, map| map.strong_count() > 0);
        if let Some(map) = maps.get(&(meta.dev(), meta.ino())).and_then(Weak::upgrade) {
            return Some(map);
        }
        // Opened only to be mapped, and never closed (see the module's documentation).
        let file = std::mem::ManuallyDrop::new(std::fs::File::open(path.to_str().ok()?).ok()?);
        let meta = file.metadata().ok()?;
        use std::os::fd::AsRawFd;
        // SAFETY: a new read-only shared map of an open file; nothing else refers to its range.
        let addr = unsafe {
            libc::mmap(std::ptr::null_mut(), MAP_LIMIT, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0)
        };
        if addr == libc::MAP_FAILED {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot map the database file: reading it without");
            return None;
        }
        let map = Arc::new(Map { addr: addr.cast(), known: AtomicU64::new(meta.len()), file });
        maps.insert((meta.dev(), meta.ino()), Arc::downgrade(&map));
        Some(map)
    }

    /// The address of `amount` bytes at `offset`, if the map covers them and the file holds them.
    fn fetch(&self, offset: i64, amount: c_int) -> Option<*mut u8> {
        let (offset, amount) = (u64::try_from(offset).ok()?, u64::try_from(amount).ok()?);
        let end = offset.checked_add(amount)?;
        if end > MAP_LIMIT as u64 {
            return None;
        }
        if end > self.known.load(Ordering::Acquire) {
            let size = self.file.metadata().ok()?.len();
            self.known.fetch_max(size, Ordering::AcqRel);
            if end > size {
                return None;
            }
        }
        // SAFETY: `offset + amount` is within the map's length (checked above).
        Some(unsafe { self.addr.add(offset as usize) })
    }
}

/// The file object SQLite allocates for us (`szOsFile` bytes): ours, then the `unix` VFS's.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    /// The shared map (`Arc::into_raw`), for a main database file; null otherwise.
    map: *const Map,
    /// The most the connection's pager asked to map (`SQLITE_FCNTL_MMAP_SIZE`).
    limit: i64,
    /// The first region of the write-ahead log's index in shared memory, once the connection has
    /// mapped it (null before, and again once it unmaps it): [`LogIndex`] reads it.
    shm: *mut u8,
}

/// The `unix` VFS's file object inside ours.
unsafe fn real(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: SQLite allocated `szOsFile` bytes: ours, then the real one.
    unsafe { file.cast::<u8>().add(std::mem::size_of::<File>()).cast() }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let Some(Unix(unix)) = UNIX.get() else { return ffi::SQLITE_ERROR };
    // SAFETY: `file` is SQLite's allocation of `szOsFile` bytes, ours to fill in; the real VFS
    // fills in its part, as it would have filled the whole.
    unsafe {
        let ours = file.cast::<File>();
        (*ours).base.pMethods = std::ptr::null();
        (*ours).map = std::ptr::null();
        (*ours).limit = 0;
        (*ours).shm = std::ptr::null_mut();
        let real = real(file);
        let Some(xopen) = (**unix).xOpen else { return ffi::SQLITE_ERROR };
        let rc = xopen(*unix, name, real, flags, out_flags);
        if (*real).pMethods.is_null() {
            return rc;
        }
        if rc == ffi::SQLITE_OK && flags & ffi::SQLITE_OPEN_MAIN_DB != 0 && !name.is_null() {
            (*ours).map = Map::of(CStr::from_ptr(name)).map_or(std::ptr::null(), Arc::into_raw);
        }
        (*ours).base.pMethods = &METHODS;
        rc
    }
}

/// Calls the `unix` VFS's method `$method` on the real file inside `$file`.
macro_rules! delegate {
    ($file:expr, $method:ident $(, $arg:expr)*) => {{
        // SAFETY: `$file` is one of our files, opened by `open`; its real part is open.
        unsafe {
            let real = real($file);
            match (*(*real).pMethods).$method {
                Some(method) => method(real $(, $arg)*),
                None => ffi::SQLITE_ERROR,
            }
        }
    }};
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file once, after the last page fetched from it is released.
    unsafe {
        let ours = file.cast::<File>();
        if !(*ours).map.is_null() {
            drop(Arc::from_raw((*ours).map));
            (*ours).map = std::ptr::null();
        }
    }
    delegate!(file, xClose)
}

unsafe extern "C" fn file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    if op == ffi::SQLITE_FCNTL_MMAP_SIZE {
        // Ours to answer: the real file must not make a map of its own.
        // SAFETY: for this operation SQLite passes a pointer to an i64 (the new limit, negative to
        // only ask), and reads the old limit back from it.
        unsafe {
            let ours = file.cast::<File>();
            let asked = *arg.cast::<i64>();
            *arg.cast::<i64>() = (*ours).limit;
            if asked >= 0 {
                (*ours).limit = asked.min(MAP_LIMIT as i64);
            }
        }
        return ffi::SQLITE_OK;
    }
    delegate!(file, xFileControl, op, arg)
}

unsafe extern "C" fn fetch(file: *mut ffi::sqlite3_file, offset: i64, amount: c_int, page: *mut *mut c_void) -> c_int {
    // SAFETY: SQLite passes one of our files and somewhere to put the page's address (null when
    // the page is to be read instead).
    unsafe {
        let ours = file.cast::<File>();
        *page = std::ptr::null_mut();
        if (*ours).map.is_null() || offset.saturating_add(i64::from(amount)) > (*ours).limit {
            return ffi::SQLITE_OK;
        }
        if let Some(address) = (*(*ours).map).fetch(offset, amount) {
            *page = address.cast();
        }
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn unfetch(_file: *mut ffi::sqlite3_file, _offset: i64, _page: *mut c_void) -> c_int {
    // The map outlives every page handed out: it is unmapped when the last connection closes.
    ffi::SQLITE_OK
}

unsafe extern "C" fn read(file: *mut ffi::sqlite3_file, buf: *mut c_void, amount: c_int, offset: i64) -> c_int {
    delegate!(file, xRead, buf, amount, offset)
}
unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, buf: *const c_void, amount: c_int, offset: i64) -> c_int {
    delegate!(file, xWrite, buf, amount, offset)
}
unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    delegate!(file, xTruncate, size)
}
unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    delegate!(file, xSync, flags)
}
unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    delegate!(file, xFileSize, size)
}
unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    delegate!(file, xLock, level)
}
unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    delegate!(file, xUnlock, level)
}
unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    delegate!(file, xCheckReservedLock, out)
}
unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    delegate!(file, xSectorSize)
}
unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    delegate!(file, xDeviceCharacteristics)
}
unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    // `xShmMap` hands out a `volatile void**`: bindgen writes it as `*mut *mut c_void`.
    let rc = delegate!(file, xShmMap, region, size, extend, out);
    if region == 0 && rc == ffi::SQLITE_OK {
        // SAFETY: `file` is one of ours; `out` holds the region's address (null if it was not
        // mapped because `extend` was 0 and the index is shorter).
        unsafe { (*file.cast::<File>()).shm = (*out).cast() };
    }
    rc
}
unsafe extern "C" fn shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    delegate!(file, xShmLock, offset, n, flags)
}
unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    // SAFETY: as in `delegate!`.
    unsafe {
        let real = real(file);
        if let Some(barrier) = (*(*real).pMethods).xShmBarrier {
            barrier(real);
        }
    }
}
unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    // SAFETY: `file` is one of ours.
    unsafe { (*file.cast::<File>()).shm = std::ptr::null_mut() };
    delegate!(file, xShmUnmap, delete)
}

/// The write-ahead log's index of one connection's database, read where SQLite keeps it: in the
/// shared memory every connection to the file maps (its first 136 bytes: two copies of the log's
/// header, then how much of the log has been copied into the database).
pub struct LogIndex(*mut ffi::sqlite3_file);

// SAFETY: the file object lives as long as its connection, which owns this; it is read only by
// whoever holds the connection.
unsafe impl Send for LogIndex {}

/// The log's index at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogState {
    /// The log's header (`WalIndexHdr`): every commit, and every restart of the log, changes it.
    pub header: [u32; 12],
    /// The frames the log holds (`mxFrame`).
    pub frames: u32,
    /// How many of them are copied into the database (`nBackfill`).
    pub copied: u32,
}

impl LogIndex {
    /// The index of `conn`'s main database, when this VFS opened it.
    pub fn of(conn: &rusqlite::Connection) -> Option<Self> {
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: the handle is open; for this operation SQLite writes the main database's file
        // object to the pointer it is given.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&raw mut file).cast(),
            )
        };
        // SAFETY: a file object SQLite handed out is initialised; ours have our methods.
        let ours = rc == ffi::SQLITE_OK && !file.is_null() && unsafe { std::ptr::eq((*file).pMethods, &METHODS) };
        ours.then_some(Self(file))
    }

    /// The index as it is now; none while the connection has not mapped it (before its first read
    /// in WAL mode), or while the two copies of the header differ (a commit is writing them).
    pub fn read(&self) -> Option<LogState> {
        // SAFETY: `self.0` is one of our files, open while its connection is (which owns `self`).
        let shm = unsafe { (*self.0.cast::<File>()).shm };
        if shm.is_null() {
            return None;
        }
        // SAFETY: the first region of the index is at least 32 KiB, mapped while the connection
        // has it open, and 4-byte aligned (a page); other connections write it concurrently,
        // hence atomic loads. A writer writes the header's second copy, then the first: both are
        // read, and compared.
        let word = |n: usize| unsafe { (*shm.cast::<std::sync::atomic::AtomicU32>().add(n)).load(Ordering::Acquire) };
        let first: [u32; 12] = std::array::from_fn(word);
        let second: [u32; 12] = std::array::from_fn(|n| word(12 + n));
        (first == second).then(|| LogState { header: first, frames: first[4], copied: word(24) })
    }
}

/// (frames in the log, frames copied into the database) of the SQLite file `path`, as its log's
/// index file (`-shm`) records them (`mxFrame` of its header, `nBackfill` of its checkpoint
/// information): for tests.
#[cfg(test)]
pub(crate) fn log_index(path: impl AsRef<std::path::Path>) -> (u32, u32) {
    let shm = std::fs::read(format!("{}-shm", path.as_ref().display())).expect("the log's index");
    let word = |at: usize| u32::from_ne_bytes(shm[at..at + 4].try_into().expect("four bytes"));
    (word(16), word(96))
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OpenFlags};

    use super::*;

    /// Maps of `path` in this process.
    fn maps_of(path: &std::path::Path) -> usize {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path = path.canonicalize().unwrap();
        maps.lines().filter(|line| line.ends_with(path.to_str().unwrap())).count()
    }

    fn reader(path: &std::path::Path) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags_and_vfs(path, flags, VFS).unwrap();
        conn.execute_batch(&format!("PRAGMA query_only = 1; PRAGMA mmap_size = {MAP_LIMIT};")).unwrap();
        conn
    }

    fn sum(conn: &Connection) -> (i64, i64) {
        conn.query_row("SELECT COUNT(*), COALESCE(SUM(length(body)), 0) FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
    }

    #[test]
    fn readers_of_one_file_share_one_map_and_see_every_write_as_the_file_grows() {
        assert!(register());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO t (body) SELECT printf('%0500d', i) FROM n;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .unwrap();
        let (first, second) = (reader(&path), reader(&path));
        assert_eq!(sum(&first), (2000, 1_000_000));
        assert_eq!(sum(&second), (2000, 1_000_000));
        assert_eq!(maps_of(&path), 1, "both readers read through one map");

        // Written after the map was made: in the log, then copied into the file, which grows past
        // what the map first covered.
        let before = std::fs::metadata(&path).unwrap().len();
        writer
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
                 INSERT INTO t (body) SELECT printf('%0500d', i) FROM n;",
            )
            .unwrap();
        assert_eq!(sum(&first), (5000, 2_500_000));
        writer.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > before);
        assert_eq!(sum(&second), (5000, 2_500_000));
        assert_eq!(sum(&first), (5000, 2_500_000));
        writer.execute_batch("UPDATE t SET body = 'x' WHERE id <= 1000; PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        assert_eq!(sum(&second), (5000, 2_001_000));

        // The map goes with the last connection that reads through it.
        drop((first, second));
        assert_eq!(maps_of(&path), 0);
    }

    /// The lock another process finds on bytes `start..start + len` of `path` when it asks for a
    /// lock of `kind` there (`F_GETLK` in a child process): its type (`F_UNLCK` where none
    /// conflicts) and its holder. Asked from outside because a process never conflicts with its
    /// own locks; `/proc/locks`, which the kernel writes out a page at a time, skipped or repeated
    /// entries in one read in ten while other tests took and dropped locks.
    fn lock_seen_from_outside(path: &std::path::Path, kind: i32, start: i64, len: i64) -> (i32, i32) {
        let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        let mut pipe = [0; 2];
        // SAFETY: a pipe for the child's answer; the child calls only async-signal-safe functions
        // (`open`, `fcntl`, `write`, `_exit`) on memory prepared before the fork.
        unsafe {
            assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
            let mut asked: libc::flock = std::mem::zeroed();
            asked.l_type = kind as _;
            asked.l_whence = libc::SEEK_SET as _;
            asked.l_start = start;
            asked.l_len = len;
            let child = libc::fork();
            if child == 0 {
                let fd = libc::open(name.as_ptr(), libc::O_RDWR);
                let mut found = asked;
                let ok = fd >= 0 && libc::fcntl(fd, libc::F_GETLK, &mut found) == 0;
                let answer = if ok { [i32::from(found.l_type), found.l_pid] } else { [-1, -1] };
                libc::write(pipe[1], answer.as_ptr().cast(), std::mem::size_of_val(&answer));
                libc::_exit(0);
            }
            assert!(child > 0, "fork: {}", std::io::Error::last_os_error());
            libc::close(pipe[1]);
            let mut answer = [0i32; 2];
            let read = libc::read(pipe[0], answer.as_mut_ptr().cast(), std::mem::size_of_val(&answer));
            libc::close(pipe[0]);
            libc::waitpid(child, std::ptr::null_mut(), 0);
            assert_eq!(read, std::mem::size_of_val(&answer) as isize, "the child's answer");
            (answer[0], answer[1])
        }
    }

    /// This process holds a shared lock on the file `path` (SQLite's shared range), as a
    /// connection in WAL mode does while it is open, and nobody holds a write lock on any of it.
    fn holds_only_a_shared_lock(path: &std::path::Path) -> bool {
        // SQLite's `SHARED_FIRST` and `SHARED_SIZE` (past its pending and reserved bytes at 1 GiB).
        let (shared_first, shared_size) = (0x4000_0002, 510);
        let us = i32::try_from(std::process::id()).unwrap();
        let shared = lock_seen_from_outside(path, libc::F_WRLCK, shared_first, shared_size);
        let written = lock_seen_from_outside(path, libc::F_RDLCK, 0, 0);
        shared == (libc::F_RDLCK, us) && written.0 == libc::F_UNLCK
    }

    #[test]
    fn opening_and_closing_readers_drops_no_lock_of_the_process() {
        assert!(register());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks.db");
        // A connection in WAL mode holds a shared lock on the file while it is open.
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT);").unwrap();
        assert!(holds_only_a_shared_lock(&path));
        // The first reader makes the map, the second finds it (each of them once opened the file to
        // look, and closing that descriptor dropped the writer's lock); the last to close unmaps it.
        let first = reader(&path);
        let second = reader(&path);
        assert!(holds_only_a_shared_lock(&path), "the writer's lock is still held");
        writer.execute_batch("INSERT INTO t DEFAULT VALUES").unwrap();
        assert_eq!(sum(&second), (1, 0));
        drop((first, second));
        assert!(holds_only_a_shared_lock(&path), "the writer's lock is still held");
    }

    #[test]
    fn a_page_past_the_file_or_the_limit_is_read_instead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.db");
        std::fs::write(&path, vec![7u8; 8192]).unwrap();
        let map = Map::of(&std::ffi::CString::new(path.to_str().unwrap()).unwrap()).unwrap();
        assert!(map.fetch(4096, 4096).is_some());
        assert!(map.fetch(8192, 4096).is_none(), "past the end of the file");
        assert!(map.fetch(MAP_LIMIT as i64, 4096).is_none(), "past the map");
        assert!(map.fetch(-1, 4096).is_none());
        // The file grows: its new page is handed out.
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut file, &[9u8; 4096]).unwrap();
        let page = map.fetch(8192, 4096).expect("within the file now");
        // SAFETY: the page is within the map and the file.
        assert_eq!(unsafe { *page }, 9);
    }
}
