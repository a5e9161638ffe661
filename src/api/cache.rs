//! Product reads served from memory for up to [`TTL`], so the hottest read skips the database.
//!
//! Correctness first:
//! - A read after a write on the same instance is never stale: every write that changes a product
//!   (update, delete, an order taking or giving back stock) forgets the products it touched once it
//!   is done (or abandoned), and a read that raced with it does not store what it read, because the
//!   write moved the epoch on (see [`ProductCache::fill`]).
//! - Another instance's write is seen within [`TTL`] (ARCHITECTURE.md). Orders never rely on a cached
//!   stock: they take stock in the database.
//! - Entries are keyed by tenant, so no tenant can read another's cached product.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::store::entities::product;

/// How long a cached product may be served.
pub const TTL: Duration = Duration::from_secs(1);
/// Entries kept at most; past it the cache starts again empty.
const CAPACITY: usize = 50_000;

#[derive(Default)]
pub struct ProductCache {
    entries: RwLock<HashMap<(Uuid, Uuid), (Instant, product::Model)>>,
    /// Moves on with every write, so that a read that overlapped one stores nothing.
    epoch: AtomicU64,
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
            Some(ids) => ids.iter().for_each(|id| {
                entries.remove(&(self.tenant, *id));
            }),
            None => entries.retain(|(tenant, _), _| *tenant != self.tenant),
        }
    }
}

impl ProductCache {
    /// A fresh cached product, and otherwise the epoch to pass to [`Self::fill`] after reading it.
    pub fn get(&self, tenant: Uuid, id: Uuid) -> Result<product::Model, u64> {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(&(tenant, id)) {
            Some((at, model)) if at.elapsed() < TTL => Ok(model.clone()),
            _ => Err(epoch),
        }
    }

    /// Stores a product read from the database, unless a write happened since `epoch`.
    pub fn fill(&self, tenant: Uuid, model: &product::Model, epoch: u64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert((tenant, model.id), (Instant::now(), model.clone()));
    }

    /// Call before a write of `products`; the guard forgets them when the write ends.
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
