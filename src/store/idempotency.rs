//! Idempotency keys (Stripe's semantics): the first request with a key runs; a retry with the same
//! key and body replays its response; another body under the same key is refused; a retry while
//! the first still runs is told to wait. Keys live 24 hours.
//!
//! Crashes: a key's create records the resource it made **in the same transaction as the
//! resource** ([`record`]), so after a crash the key either names its resource (a retry answers
//! with it) or names none (nothing was created). A claim is a lease: a request that died without
//! answering leaves a claim that expires after the request timeout, and a retry then takes it over
//! with a new fencing token. The old request, should it still be running, can no longer record a
//! resource under the key: its transaction fails and rolls back. So a retry after a crash replays
//! the outcome or performs the create exactly once; never "in use" forever, never two resources.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::idempotency_key::{self, Column};
use crate::error::AppError;

/// How long a key is remembered.
pub const TTL_HOURS: i64 = 24;

/// A held claim on a key: the row and the token that proves it is still this request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub id: Uuid,
    pub token: Uuid,
}

/// What to do with a request that carries an idempotency key.
#[derive(Debug)]
pub enum Claim {
    /// The first request with this key (or a retry after the first died): run the create with this
    /// fence, then [`complete`] or [`abandon`] the claim.
    Fresh(Fence),
    /// The key has a stored response: replay it.
    Replay { status: i32, body: Value, location: Option<String> },
    /// The key created `resource_id`, but its response was never stored (the process stopped
    /// between the commit and the response): answer with the resource, then [`complete`].
    Recover { fence: Fence, resource_id: Uuid },
}

fn in_use(seconds: i64) -> AppError {
    AppError::Conflict {
        code: "idempotency_key_in_use",
        detail: format!(
            "a request with this Idempotency-Key is still being processed; retry in {} s",
            Ord::max(seconds, 1)
        ),
        errors: vec![],
    }
}

/// Claims `key` for this request for `lease`, or finds what it already holds.
pub async fn claim(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    principal: &str,
    key: &str,
    request_hash: &str,
    lease: std::time::Duration,
) -> Result<Claim, AppError> {
    let now = super::now();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let scope = || Column::TenantId.eq(tenant_id).and(Column::Principal.eq(principal)).and(Column::Key.eq(key));
    // A key older than the window is forgotten.
    idempotency_key::Entity::delete_many()
        .filter(scope())
        .filter(Column::CreatedAt.lt(now - chrono::Duration::hours(TTL_HOURS)))
        .exec(db)
        .await?;
    let fence = Fence { id: Uuid::now_v7(), token: Uuid::new_v4() };
    let row = idempotency_key::ActiveModel {
        id: Set(fence.id),
        tenant_id: Set(tenant_id),
        principal: Set(principal.to_string()),
        key: Set(key.to_string()),
        request_hash: Set(request_hash.to_string()),
        response_status: Set(None),
        response_body: Set(None),
        response_location: Set(None),
        created_at: Set(now),
        lease_until: Set(Some(lease_until)),
        claim_token: Set(Some(fence.token)),
        resource_id: Set(None),
    };
    let inserted = idempotency_key::Entity::insert(row)
        .on_conflict_do_nothing_on([Column::TenantId, Column::Principal, Column::Key])
        .exec(db)
        .await?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) {
        return Ok(Claim::Fresh(fence));
    }
    let Some(existing) = idempotency_key::Entity::find().filter(scope()).one(db).await? else {
        // Forgotten between the insert and the read: the client may simply retry.
        return Err(in_use(1));
    };
    if existing.request_hash != request_hash {
        return Err(AppError::Validation(vec![commerce_generated::models::FieldError {
            pointer: None,
            parameter: Some("Idempotency-Key".into()),
            detail: "this key was used with a different request; use a new key for a new request".into(),
        }]));
    }
    if let (Some(status), Some(body)) = (existing.response_status, existing.response_body) {
        return Ok(Claim::Replay { status, body, location: existing.response_location });
    }
    let taken_over = Fence { id: existing.id, token: Uuid::new_v4() };
    if let Some(resource_id) = existing.resource_id {
        return Ok(Claim::Recover { fence: taken_over, resource_id });
    }
    if let Some(until) = existing.lease_until.filter(|until| *until > now) {
        return Err(in_use((until - now).num_seconds() + 1));
    }
    // The request that held the claim died without creating anything: take the claim over, unless
    // another retry has just done so (the old token must still be the claim's).
    let token_is = |token: Option<Uuid>| match token {
        Some(token) => Column::ClaimToken.eq(token),
        None => Column::ClaimToken.is_null(),
    };
    let updated = idempotency_key::Entity::update_many()
        .col_expr(Column::ClaimToken, Some(taken_over.token).into())
        .col_expr(Column::LeaseUntil, Some(lease_until).into())
        .filter(Column::Id.eq(existing.id))
        .filter(token_is(existing.claim_token))
        .filter(Column::ResourceId.is_null())
        .exec(db)
        .await?;
    if updated.rows_affected == 1 { Ok(Claim::Fresh(taken_over)) } else { Err(in_use(1)) }
}

/// Records, inside the create's own transaction, that the claim `fence` created `resource_id`.
/// Fails (and the caller rolls the create back) if the claim was taken over meanwhile.
pub async fn record(txn: &impl ConnectionTrait, fence: &Fence, resource_id: Uuid) -> Result<(), AppError> {
    let updated = idempotency_key::Entity::update_many()
        .col_expr(Column::ResourceId, Some(resource_id).into())
        .filter(Column::Id.eq(fence.id))
        .filter(Column::ClaimToken.eq(fence.token))
        .filter(Column::ResourceId.is_null())
        .exec(txn)
        .await?;
    if updated.rows_affected == 1 { Ok(()) } else { Err(taken_over()) }
}

/// The error of a create whose claim a retry took over while it ran.
pub fn taken_over() -> AppError {
    AppError::Conflict {
        code: "idempotency_key_in_use",
        detail: "this request took longer than its Idempotency-Key's lease and a retry has taken the key over; nothing was created by this request".into(),
        errors: vec![],
    }
}

/// Records the response of a claim, for replays.
pub async fn complete(
    db: &DatabaseConnection,
    id: Uuid,
    status: i32,
    body: Value,
    location: Option<String>,
) -> Result<(), AppError> {
    idempotency_key::Entity::update_many()
        .col_expr(Column::ResponseStatus, status.into())
        .col_expr(Column::ResponseBody, sea_orm::sea_query::Expr::value(body))
        .col_expr(Column::ResponseLocation, location.into())
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Releases a claim whose request failed before creating anything, so that it can be retried
/// with the same key at once.
pub async fn abandon(db: &DatabaseConnection, fence: &Fence) -> Result<(), AppError> {
    idempotency_key::Entity::delete_many()
        .filter(Column::Id.eq(fence.id))
        .filter(Column::ClaimToken.eq(fence.token))
        .filter(Column::ResourceId.is_null())
        .exec(db)
        .await?;
    Ok(())
}
