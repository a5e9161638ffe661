//! Ended sessions, held in memory so that checking a request's token costs no database round trip
//! (it was half the database work of every authenticated read; see BENCHMARKS.md). A session is a
//! refresh-token family; ending it refuses every access token issued in it.
//!
//! The table stays the truth shared by instances: a logout (or a refresh-token reuse) writes it
//! first, then enters this instance's set at once, and every instance reloads its set from the table
//! every [`RELOAD_INTERVAL`]. So a session ends at once on the instance that ended it, and within
//! that interval on the others (ARCHITECTURE.md).

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::AppError;
use crate::store;

/// How often each instance reloads the sessions other instances ended.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Revocations {
    sessions: RwLock<HashSet<Uuid>>,
}

impl Revocations {
    pub fn is_revoked(&self, session: Uuid) -> bool {
        self.sessions.read().unwrap_or_else(|e| e.into_inner()).contains(&session)
    }

    /// Records a session this instance has just ended in the table.
    pub fn insert(&self, session: Uuid) {
        self.sessions.write().unwrap_or_else(|e| e.into_inner()).insert(session);
    }

    /// Replaces the set with the table's ended sessions (those whose tokens have all expired are
    /// refused anyway).
    pub async fn reload(&self, db: &DatabaseConnection) -> Result<(), AppError> {
        let current: HashSet<Uuid> = store::tokens::revoked_sessions(db).await?.into_iter().collect();
        *self.sessions.write().unwrap_or_else(|e| e.into_inner()) = current;
        Ok(())
    }
}
