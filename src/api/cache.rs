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

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use commerce_runtime::Bytes;
use uuid::Uuid;

use crate::http::metrics::CacheCounters;
use crate::store::products::ProductQuery;

/// How long a cached entry may be served.
pub const TTL: Duration = Duration::from_secs(1);
/// Bytes of products kept at most; past it the products start again empty.
const PRODUCT_BYTES: usize = 8 << 20;
/// Bytes of listing pages kept at most; past it the pages start again empty.
const LIST_BYTES: usize = 4 << 20;

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

#[derive(Default)]
struct Entries {
    products: HashMap<(Uuid, Uuid), (Instant, CachedProduct)>,
    /// Bytes in `products`, summed.
    product_bytes: usize,
    lists: HashMap<Uuid, HashMap<ProductQuery, (Instant, Bytes)>>,
    /// Bytes in `lists`, summed.
    list_bytes: usize,
}

impl Entries {
    fn forget_product(&mut self, tenant: Uuid, id: Uuid) {
        if let Some((_, cached)) = self.products.remove(&(tenant, id)) {
            self.product_bytes -= cached.body.len();
        }
    }

    fn forget_lists(&mut self, tenant: Uuid) {
        if let Some(pages) = self.lists.remove(&tenant) {
            self.list_bytes -= pages.values().map(|(_, body)| body.len()).sum::<usize>();
        }
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
        match &self.products {
            Some(ids) => ids.iter().for_each(|id| entries.forget_product(self.tenant, *id)),
            None => {
                let forgotten: Vec<Uuid> =
                    entries.products.keys().filter(|(tenant, _)| *tenant == self.tenant).map(|(_, id)| *id).collect();
                forgotten.into_iter().for_each(|id| entries.forget_product(self.tenant, id));
            }
        }
        entries.forget_lists(self.tenant);
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
            Some((at, cached)) if at.elapsed() < TTL => {
                self.counters.product_hits.inc();
                Ok(cached.clone())
            }
            _ => {
                self.counters.product_misses.inc();
                Err(epoch)
            }
        }
    }

    /// Stores a product read from the database, unless a write happened since `epoch`.
    pub fn fill(&self, tenant: Uuid, id: Uuid, cached: &CachedProduct, epoch: u64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if entries.product_bytes + cached.body.len() > PRODUCT_BYTES {
            entries.products.clear();
            entries.product_bytes = 0;
        }
        entries.forget_product(tenant, id);
        entries.product_bytes += cached.body.len();
        entries.products.insert((tenant, id), (Instant::now(), cached.clone()));
    }

    /// A fresh cached page of a listing, and otherwise the epoch to pass to [`Self::fill_list`].
    pub fn list(&self, tenant: Uuid, query: &ProductQuery) -> Result<Bytes, u64> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.lists.get(&tenant).and_then(|pages| pages.get(query)) {
            Some((at, body)) if at.elapsed() < TTL => {
                self.counters.list_hits.inc();
                Ok(body.clone())
            }
            _ => {
                self.counters.list_misses.inc();
                Err(epoch)
            }
        }
    }

    /// Stores a page read from the database, unless a write happened since `epoch`.
    pub fn fill_list(&self, tenant: Uuid, query: ProductQuery, body: &Bytes, epoch: u64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if entries.list_bytes + body.len() > LIST_BYTES {
            entries.lists.clear();
            entries.list_bytes = 0;
        }
        entries.list_bytes += body.len();
        let pages = entries.lists.entry(tenant).or_default();
        if let Some((_, replaced)) = pages.insert(query, (Instant::now(), body.clone())) {
            entries.list_bytes -= replaced.len();
        }
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
