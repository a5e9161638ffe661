//! Revoked access tokens, held in memory so that checking a request's token costs no database round
//! trip (it was half the database work of every authenticated read; see BENCHMARKS.md).
//!
//! The table stays the truth shared by instances: a logout writes it first, then enters this
//! instance's set at once, and every instance reloads its set from the table every
//! [`RELOAD_INTERVAL`]. So a logout takes effect at once on the instance that served it, and within
//! that interval on the others (ARCHITECTURE.md).

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::AppError;
use crate::store;

/// How often each instance reloads the revoked tokens other instances wrote.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Revocations {
    jtis: RwLock<HashSet<Uuid>>,
}

impl Revocations {
    pub fn is_revoked(&self, jti: Uuid) -> bool {
        self.jtis.read().unwrap_or_else(|e| e.into_inner()).contains(&jti)
    }

    /// Records a revocation this instance has just written to the table.
    pub fn insert(&self, jti: Uuid) {
        self.jtis.write().unwrap_or_else(|e| e.into_inner()).insert(jti);
    }

    /// Replaces the set with the table's unexpired revocations (expired tokens are refused anyway).
    pub async fn reload(&self, db: &DatabaseConnection) -> Result<(), AppError> {
        let current: HashSet<Uuid> = store::tokens::revoked_jtis(db).await?.into_iter().collect();
        *self.jtis.write().unwrap_or_else(|e| e.into_inner()) = current;
        Ok(())
    }
}
