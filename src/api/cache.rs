//! Product reads served from memory for up to [`TTL`], so the hottest reads skip the database: a
//! product by id, and a page of a product listing, each kept as the JSON body it was answered with
//! (and sent again as it is).
//!
//! Correctness first:
//! - A read after a write on the same instance is never stale: every write that changes products
//!   (a create, an update, a delete, an order taking or giving back stock) forgets what it may have
//!   changed once it is done (or abandoned): the products it names, and every cached listing of the
//!   tenant. A read that raced with a write does not store what it read, because the write moved
//!   the epoch on (see [`ProductCache::fill`]).
//! - Another instance's write is seen within [`TTL`] (ARCHITECTURE.md). Orders never rely on a cached
//!   stock: they take stock in the database.
//! - Entries are keyed by tenant, so no tenant can read another's cached products.
//!
//! Memory stays within a budget per cache, and what expired goes within a second or two (see
//! [`Generations`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use commerce_runtime::Bytes;
use uuid::Uuid;

use crate::http::metrics::CacheCounters;
use crate::store::products::ProductQuery;

/// How long a cached entry may be served.
pub const TTL: Duration = Duration::from_secs(1);
/// Bytes the cached products may hold, bodies and entries; at 10,000 products of about 370 bytes
/// this keeps all of them.
const PRODUCT_BYTES: usize = 6 << 20;
/// Bytes the cached listing pages may hold: a few hundred pages of 20 products.
const LIST_BYTES: usize = 2 << 20;
/// What an entry costs beside its body: its key and value in the table, and the table's slack.
const ENTRY_BYTES: usize = 128;

/// A product's JSON body and its version (the ETag).
#[derive(Clone)]
pub struct CachedProduct {
    pub body: Bytes,
    pub version: i64,
    /// Whether shoppers may see it.
    pub active: bool,
}

#[derive(Default)]
pub struct ProductCache {
    entries: RwLock<Entries>,
    /// Hits and misses, as `/metrics` reports them.
    counters: CacheCounters,
    /// Moves on with every write, so that a read that overlapped one stores nothing.
    epoch: AtomicU64,
}

struct Entries {
    products: Generations<(Uuid, Uuid), CachedProduct>,
    lists: Generations<(Uuid, ProductQuery), Bytes>,
}

impl Default for Entries {
    fn default() -> Self {
        Self { products: Generations::new(PRODUCT_BYTES, TTL), lists: Generations::new(LIST_BYTES, TTL) }
    }
}

/// Something cached, and the bytes it holds.
trait Weighed {
    fn bytes(&self) -> usize;
}

impl Weighed for Bytes {
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl Weighed for CachedProduct {
    fn bytes(&self) -> usize {
        self.body.len()
    }
}

/// Entries in two generations, so that memory stays within a budget and what expired goes, without
/// a clock per entry to scan: new entries go to the current generation; when it has been current
/// for [`TTL`] or holds half the budget, the previous one (all of it older than that) is dropped and
/// the current one becomes the previous. A lookup reads both, and serves only what is younger than
/// [`TTL`]. Under load the two hold the entries of the last moments, up to the budget; idle, the
/// sweep ([`ProductCache::sweep`]) leaves nothing after two [`TTL`]s.
struct Generations<K, V> {
    current: HashMap<K, (Instant, V)>,
    previous: HashMap<K, (Instant, V)>,
    /// When `current` became current.
    started: Instant,
    /// Bytes in `current` (bodies and entries).
    bytes: usize,
    /// Bytes both generations may hold.
    budget: usize,
    /// How long an entry may be served ([`TTL`]).
    ttl: Duration,
}

impl<K: Hash + Eq, V: Weighed + Clone> Generations<K, V> {
    fn new(budget: usize, ttl: Duration) -> Self {
        Self { current: HashMap::new(), previous: HashMap::new(), started: Instant::now(), bytes: 0, budget, ttl }
    }

    /// A fresh entry.
    fn get(&self, key: &K) -> Option<V> {
        let (at, value) = self.current.get(key).or_else(|| self.previous.get(key))?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    fn insert(&mut self, key: K, value: V) {
        let cost = value.bytes() + ENTRY_BYTES;
        if cost > self.budget / 2 {
            return;
        }
        self.remove(&key);
        if self.bytes + cost > self.budget / 2 {
            self.rotate();
        }
        self.sweep();
        self.bytes += cost;
        self.current.insert(key, (Instant::now(), value));
    }

    fn remove(&mut self, key: &K) {
        if let Some((_, value)) = self.current.remove(key) {
            self.bytes -= value.bytes() + ENTRY_BYTES;
        }
        self.previous.remove(key);
    }

    fn retain(&mut self, keep: impl Fn(&K) -> bool) {
        self.current.retain(|key, (_, value)| {
            let kept = keep(key);
            if !kept {
                self.bytes -= value.bytes() + ENTRY_BYTES;
            }
            kept
        });
        self.previous.retain(|key, _| keep(key));
    }

    /// Rotates once the current generation has been current for [`TTL`]: everything in the
    /// previous one was stored before that, so has expired.
    fn sweep(&mut self) {
        if self.started.elapsed() >= self.ttl {
            self.rotate();
        }
    }

    /// Drops the previous generation; the current one becomes it.
    fn rotate(&mut self) {
        self.previous = std::mem::take(&mut self.current);
        self.started = Instant::now();
        self.bytes = 0;
    }
}

/// What to forget when a write ends (dropped at the end of the write, or when it is abandoned).
#[must_use = "the guard forgets the products when it is dropped, after the write"]
pub struct Forget<'a> {
    cache: &'a ProductCache,
    tenant: Uuid,
    /// `None`: every product of the tenant.
    products: Option<Vec<Uuid>>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.cache.epoch.fetch_add(1, Ordering::SeqCst);
        let mut entries = self.cache.entries.write().unwrap_or_else(|e| e.into_inner());
        let tenant = self.tenant;
        match &self.products {
            Some(ids) => ids.iter().for_each(|id| entries.products.remove(&(tenant, *id))),
            None => entries.products.retain(|(of, _)| *of != tenant),
        }
        entries.lists.retain(|(of, _)| *of != tenant);
    }
}

impl ProductCache {
    /// An empty cache counting its hits and misses into `counters`.
    pub fn counting(counters: CacheCounters) -> Self {
        Self { counters, ..Self::default() }
    }

    /// A fresh cached product, and otherwise the epoch to pass to [`Self::fill`] after reading it.
    pub fn get(&self, tenant: Uuid, id: Uuid) -> Result<CachedProduct, u64> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.products.get(&(tenant, id)) {
            Some(cached) => {
                self.counters.product_hits.inc();
                Ok(cached)
            }
            None => {
                self.counters.product_misses.inc();
                Err(epoch)
            }
        }
    }

    /// Stores a product read from the database, unless a write happened since `epoch`.
    pub fn fill(&self, tenant: Uuid, id: Uuid, cached: &CachedProduct, epoch: u64) {
        let kept = CachedProduct { body: compact(&cached.body), ..cached.clone() };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        entries.products.insert((tenant, id), kept);
    }

    /// A fresh cached page of a listing, and otherwise the epoch to pass to [`Self::fill_list`].
    pub fn list(&self, tenant: Uuid, query: &ProductQuery) -> Result<Bytes, u64> {
        let key = (tenant, query.clone());
        let epoch = self.epoch.load(Ordering::SeqCst);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.lists.get(&key) {
            Some(body) => {
                self.counters.list_hits.inc();
                Ok(body)
            }
            None => {
                self.counters.list_misses.inc();
                Err(epoch)
            }
        }
    }

    /// Stores a page read from the database, unless a write happened since `epoch`.
    pub fn fill_list(&self, tenant: Uuid, query: ProductQuery, body: &Bytes, epoch: u64) {
        let kept = compact(body);
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        entries.lists.insert((tenant, query), kept);
    }

    /// Drops what expired (see [`Generations`]); call about once a [`TTL`], so that an idle
    /// instance holds nothing.
    pub fn sweep(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.products.sweep();
        entries.lists.sweep();
    }

    /// Call before a write of `products` (none: a create); the guard forgets them, and the
    /// tenant's listings, when the write ends.
    pub fn writing(&self, tenant: Uuid, products: Vec<Uuid>) -> Forget<'_> {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        Forget { cache: self, tenant, products: Some(products) }
    }

    /// Call before a write that may touch any product of `tenant` (an order's status change).
    pub fn writing_tenant(&self, tenant: Uuid) -> Forget<'_> {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        Forget { cache: self, tenant, products: None }
    }
}

/// A copy of `body` of its own size: an encoder's buffer grows by doubling, and a product's body of
/// 370 bytes kept as encoded held 512 and a share count.
fn compact(body: &Bytes) -> Bytes {
    Bytes::copy_from_slice(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: usize = 100;

    fn body(n: u8) -> Bytes {
        Bytes::from(vec![n; BODY])
    }

    /// Room for `entries` bodies of [`BODY`] bytes in both generations.
    fn room(entries: usize) -> usize {
        entries * (BODY + ENTRY_BYTES)
    }

    fn held<K, V>(generations: &Generations<K, V>) -> usize {
        generations.current.len() + generations.previous.len()
    }

    #[test]
    fn the_generations_hold_at_most_their_budget_and_the_newest_entries() {
        let mut cache = Generations::new(room(10), Duration::from_secs(60));
        for n in 0..100u8 {
            cache.insert(n, body(n));
            assert!(held(&cache) <= 10, "{} entries held after {n}", held(&cache));
        }
        // The last five inserted are in the current generation, the five before in the previous.
        for n in 90..100u8 {
            assert_eq!(cache.get(&n), Some(body(n)), "entry {n}");
        }
        assert_eq!(cache.get(&89), None);
        // Stored again, an entry replaces itself: the budget counts it once.
        for _ in 0..20 {
            cache.insert(99, body(7));
        }
        assert_eq!(cache.get(&99), Some(body(7)));
        assert_eq!(cache.get(&95), Some(body(95)));
        // A body larger than a generation is not kept.
        cache.insert(1, Bytes::from(vec![0; room(10)]));
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn an_expired_entry_is_not_served_and_the_sweep_drops_it() {
        let ttl = Duration::from_millis(50);
        let mut cache = Generations::new(room(10), ttl);
        cache.insert(1, body(1));
        std::thread::sleep(ttl);
        assert_eq!(cache.get(&1), None, "served past its time");
        cache.sweep();
        assert_eq!(held(&cache), 1, "the first sweep makes it the previous generation");
        cache.insert(2, body(2));
        assert_eq!(cache.get(&2), Some(body(2)));
        std::thread::sleep(ttl);
        cache.sweep();
        assert_eq!((cache.current.len(), cache.previous.len()), (0, 1), "1 expired, 2 in the previous generation");
        std::thread::sleep(ttl);
        cache.sweep();
        assert_eq!(held(&cache), 0, "an idle cache holds nothing");
        assert_eq!(cache.bytes, 0);
    }

    #[test]
    fn what_is_forgotten_goes_from_both_generations() {
        let mut cache = Generations::new(room(4), Duration::from_secs(60));
        for n in 0..4u8 {
            cache.insert(n, body(n));
        }
        assert_eq!((cache.current.len(), cache.previous.len()), (2, 2));
        cache.retain(|n| n % 2 == 1);
        cache.remove(&3);
        assert_eq!((cache.get(&0), cache.get(&1), cache.get(&2), cache.get(&3)), (None, Some(body(1)), None, None));
        assert_eq!(cache.bytes, 0, "the current generation held 2 and 3");
    }
}
