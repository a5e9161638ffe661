//! Live API keys, held in memory by the digest of their secret, so that a server-to-server request
//! costs no database round trip to authenticate (it was one per request; see BENCHMARKS.md).
//!
//! The table stays the truth shared by instances: every instance reloads the live keys every
//! [`super::revocations::RELOAD_INTERVAL`], so a key revoked (by `commerce api-key revoke`, on any
//! instance's database) is refused within that interval; a key created since the last reload is
//! looked up in the table on its first use and kept from then on.

use std::collections::HashMap;
use std::sync::RwLock;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{Permission, Permissions, Plan};
use crate::error::AppError;
use crate::store;
use crate::store::entities::api_key;

/// What a live key grants.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub permissions: Permissions,
    pub plan: Plan,
}

impl From<&api_key::Model> for Grant {
    fn from(key: &api_key::Model) -> Self {
        let scopes = key.scopes.as_array().into_iter().flatten().filter_map(|s| s.as_str());
        // Unknown scope names (from a newer version) grant nothing.
        let permissions = scopes.filter_map(|s| s.parse::<Permission>().ok()).collect();
        Self { id: key.id, tenant_id: key.tenant_id, permissions, plan: key.plan.parse().unwrap_or(Plan::Standard) }
    }
}

#[derive(Default)]
pub struct ApiKeys {
    /// Live keys by the SHA-256 digest of their secret (hex).
    by_digest: RwLock<HashMap<String, Grant>>,
}

impl ApiKeys {
    /// What the key with `secret` grants, from memory, else from the table (and kept); `None` for
    /// no live key.
    pub async fn find(&self, db: &DatabaseConnection, secret: &str) -> Result<Option<Grant>, AppError> {
        let digest = super::tokens::digest(secret);
        if let Some(grant) = self.by_digest.read().unwrap_or_else(|e| e.into_inner()).get(&digest) {
            return Ok(Some(*grant));
        }
        let Some(key) = store::tenants::find_api_key(db, secret).await? else { return Ok(None) };
        let grant = Grant::from(&key);
        self.by_digest.write().unwrap_or_else(|e| e.into_inner()).insert(digest, grant);
        Ok(Some(grant))
    }

    /// Replaces the keys with the table's live ones.
    pub async fn reload(&self, db: &DatabaseConnection) -> Result<(), AppError> {
        let live: HashMap<String, Grant> =
            store::tenants::live_api_keys(db).await?.iter().map(|k| (k.key_hash.clone(), Grant::from(k))).collect();
        *self.by_digest.write().unwrap_or_else(|e| e.into_inner()) = live;
        Ok(())
    }
}
