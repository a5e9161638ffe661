//! Idempotency keys (Stripe's semantics): the first request with a key runs; a retry with the same
//! key and body replays its response; another body under the same key, or a retry while the first
//! still runs, is refused. Keys live 24 hours.

use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::Value;
use uuid::Uuid;

use super::entities::idempotency_key::{self, Column};
use crate::error::AppError;

/// How long a key is remembered.
pub const TTL_HOURS: i64 = 24;

/// What to do with a request that carries an idempotency key.
#[derive(Debug)]
pub enum Claim {
    /// The first request with this key: run it, then [`complete`] or [`abandon`] the claim.
    Fresh(Uuid),
    /// The key has a finished response: replay it.
    Replay { status: i32, body: Value, location: Option<String> },
}

/// Claims `key` for this request, or finds what it already holds.
pub async fn claim(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    principal: &str,
    key: &str,
    request_hash: &str,
) -> Result<Claim, AppError> {
    let now = super::now();
    // A key older than the window is forgotten.
    idempotency_key::Entity::delete_many()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Principal.eq(principal))
        .filter(Column::Key.eq(key))
        .filter(Column::CreatedAt.lt(now - chrono::Duration::hours(TTL_HOURS)))
        .exec(db)
        .await?;
    let id = Uuid::now_v7();
    let row = idempotency_key::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        principal: Set(principal.to_string()),
        key: Set(key.to_string()),
        request_hash: Set(request_hash.to_string()),
        response_status: Set(None),
        response_body: Set(None),
        response_location: Set(None),
        created_at: Set(now),
    };
    let inserted = idempotency_key::Entity::insert(row)
        .on_conflict_do_nothing_on([Column::TenantId, Column::Principal, Column::Key])
        .exec(db)
        .await?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(_)) {
        return Ok(Claim::Fresh(id));
    }
    let existing = idempotency_key::Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Principal.eq(principal))
        .filter(Column::Key.eq(key))
        .one(db)
        .await?
        .ok_or_else(|| AppError::Conflict {
            code: "idempotency_key_in_use",
            detail: "a request with this Idempotency-Key is still being processed; retry later".into(),
            errors: vec![],
        })?;
    if existing.request_hash != request_hash {
        return Err(AppError::Validation(vec![commerce_generated::models::FieldError {
            pointer: None,
            parameter: Some("Idempotency-Key".into()),
            detail: "this key was used with a different request; use a new key for a new request".into(),
        }]));
    }
    match (existing.response_status, existing.response_body) {
        (Some(status), Some(body)) => Ok(Claim::Replay { status, body, location: existing.response_location }),
        _ => Err(AppError::Conflict {
            code: "idempotency_key_in_use",
            detail: "a request with this Idempotency-Key is still being processed; retry later".into(),
            errors: vec![],
        }),
    }
}

/// Records the response of a fresh claim, for replays.
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

/// Releases a fresh claim whose request failed, so that it can be retried with the same key.
pub async fn abandon(db: &DatabaseConnection, id: Uuid) -> Result<(), AppError> {
    idempotency_key::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}
