//! Password hashing: argon2id with OWASP's minimum parameters (19 MiB, 2 iterations, 1 lane).
//!
//! Each verification needs 19 MiB. Left to the allocator, a burst of logins on many blocking threads
//! leaves that much behind in each thread's malloc arena (hundreds of MiB, seen under the contract
//! tester's login cases). So verifications run at most one per core at a time, each in a block
//! buffer reused while logins keep coming: the memory is bounded by cores x 19 MiB whatever the login
//! load. When the last running verification ends, the buffers are unmapped, and their memory goes
//! back to the system at once: they are maps of their own ([`Blocks`]), not the allocator's. (From
//! mimalloc, the service's allocator, a buffer freed by another thread than the one that made it
//! was only marked free to the kernel (`MADV_FREE`), and stayed in the RSS until that thread ended:
//! 19 MiB under the bench's catalogue walk, its peak.) A service that served a login does not carry
//! 19 MiB more.

use std::sync::{LazyLock, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid")
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for `password`.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2(params()).hash_password(password.as_bytes(), &salt).expect("valid parameters").to_string()
}

/// Block buffers of finished verifications, kept for the next ones.
static BUFFERS: Mutex<Vec<Blocks>> = Mutex::new(Vec::new());

/// A verification's blocks, in an anonymous memory map of their own: zeroed, page-aligned, and
/// unmapped when dropped.
struct Blocks {
    start: std::ptr::NonNull<Block>,
    len: usize,
}

// SAFETY: `Blocks` owns its map alone, like a `Vec<Block>`.
unsafe impl Send for Blocks {}

impl Blocks {
    /// `len` zeroed blocks; `None` if the system has no memory to map.
    fn new(len: usize) -> Option<Self> {
        let bytes = std::mem::size_of::<Block>().checked_mul(len.max(1))?;
        // SAFETY: a new private anonymous map; nothing else refers to it.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        // A map is page-aligned (a block needs 64 bytes), and zeroed: all zeros is a `Block`.
        std::ptr::NonNull::new(start.cast::<Block>()).map(|start| Self { start, len })
    }
}

impl std::ops::Deref for Blocks {
    type Target = [Block];
    fn deref(&self) -> &[Block] {
        // SAFETY: the map holds `len` initialised blocks and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Blocks {
    fn deref_mut(&mut self) -> &mut [Block] {
        // SAFETY: as for `deref`, and `&mut self` is the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.start.as_ptr(), self.len) }
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        // SAFETY: the map made in `new`, of this size, unmapped once.
        unsafe { libc::munmap(self.start.as_ptr().cast(), std::mem::size_of::<Block>() * self.len.max(1)) };
    }
}

/// One verification per core at a time.
static SLOTS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| tokio::sync::Semaphore::new(slots()));

/// Whether `password` matches `phc`, computed off the async workers. A malformed hash never matches.
pub async fn verify(password: String, phc: String) -> bool {
    let Ok(slot) = SLOTS.acquire().await else { return false };
    let matches = tokio::task::spawn_blocking(move || verify_now(&password, &phc)).await.unwrap_or(false);
    // The last verification running frees the buffers; while others run, they are kept for the
    // next (a waiting verification would hold no permit only if every permit were taken).
    let mut buffers = BUFFERS.lock().unwrap_or_else(|e| e.into_inner());
    if SLOTS.available_permits() + 1 == slots() {
        buffers.clear();
    }
    drop(buffers);
    drop(slot);
    matches
}

fn slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Makes glibc's malloc (SQLite's allocator in the service, every allocation's in a process
/// without mimalloc) serve allocations of 4 MiB and more from their own memory maps, always, so
/// that freeing one gives the memory back to the system. glibc's default raises this threshold to
/// the size of the largest block freed, after which such buffers stay in the process.
///
/// Setting the threshold also stops glibc from raising the trim threshold (the free memory a heap
/// keeps at its top) with it, which then stays at 128 KiB: each thread's heap was given back and
/// taken again, page faults and all, many times a second (SQLite's writer thread under orders of
/// random products: `sysmalloc` and page faults 10% of its time). It is set to what glibc's own
/// rule would make it, twice the map threshold: orders of random products +5-10% (by hand, wrk
/// -c32, A/B alternated), peak RSS unchanged under the bench's loads.
pub fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes tuning parameters of glibc's allocator; called at start-up.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 8 << 20);
    }
}

/// Spends the time of one verification, so an unknown user answers as slowly as a wrong password.
pub async fn verify_dummy(password: String) {
    static DUMMY: LazyLock<String> = LazyLock::new(|| hash("not a real password"));
    verify(password, DUMMY.clone()).await;
}

fn verify_now(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Ok(params), Some(expected), Some(salt)) = (Params::try_from(&parsed), parsed.hash, parsed.salt) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let kept = BUFFERS.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let Some(mut blocks) =
        kept.filter(|b| b.len() >= params.block_count()).or_else(|| Blocks::new(params.block_count()))
    else {
        return false;
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    let computed = argon2(params).hash_password_into_with_memory(password.as_bytes(), salt, &mut *out, &mut blocks[..]);
    BUFFERS.lock().unwrap_or_else(|e| e.into_inner()).push(blocks);
    // `Output` compares in constant time.
    computed.is_ok() && Output::new(out).is_ok_and(|out| out == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let phc = hash("correct horse");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse".into(), phc.clone()).await);
        assert!(!verify("wrong horse".into(), phc.clone()).await);
        assert!(!verify("correct horse".into(), "not a phc string".into()).await);
        // A hash made elsewhere with other parameters verifies too (they come from the PHC string).
        let other = argon2::Argon2::default()
            .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify("correct horse".into(), other).await);
        assert!(BUFFERS.lock().unwrap().is_empty(), "the last verification freed the buffers");
    }
}
