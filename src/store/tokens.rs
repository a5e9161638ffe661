//! Refresh tokens (stored hashed, single use, rotated within a family) and revoked access tokens.

use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;

use super::entities::{refresh_token, revoked_access_token, user};
use crate::auth::tokens;
use crate::error::AppError;

/// Stores a new refresh token of `family_id`, issued with the access token `access_jti`.
pub async fn issue_refresh(
    db: &DatabaseConnection,
    user: &user::Model,
    family_id: Uuid,
    access_jti: Uuid,
) -> Result<String, AppError> {
    let secret = tokens::opaque_secret("rt");
    let now = super::now();
    let row = refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(user.tenant_id),
        user_id: Set(user.id),
        family_id: Set(family_id),
        token_hash: Set(tokens::digest(&secret)),
        access_jti: Set(access_jti),
        expires_at: Set(now + chrono::Duration::days(tokens::REFRESH_TOKEN_TTL_DAYS)),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now),
    };
    refresh_token::Entity::insert(row).exec(db).await?;
    Ok(secret)
}

/// Uses up a refresh token: returns its user and family for the next pair. A token that was
/// already used or revoked is a reuse, which revokes its whole family (RFC 9700 section 4.14.2).
pub async fn redeem_refresh(db: &DatabaseConnection, secret: &str) -> Result<(user::Model, Uuid), AppError> {
    let now = super::now();
    let txn = db.begin().await?;
    let Some(token) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(tokens::digest(secret)))
        .one(&txn)
        .await?
    else {
        return Err(AppError::InvalidRefreshToken);
    };
    // Only the first of concurrent redemptions changes the row.
    let claimed = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, now.into())
        .filter(refresh_token::Column::Id.eq(token.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if !claimed {
        revoke_family(&txn, token.family_id).await?;
        txn.commit().await?;
        tracing::warn!(family = %token.family_id, "a used or revoked refresh token was presented: family revoked");
        return Err(AppError::InvalidRefreshToken);
    }
    if token.expires_at <= now {
        return Err(AppError::InvalidRefreshToken);
    }
    let user = user::Entity::find_by_id(token.user_id).one(&txn).await?.ok_or(AppError::InvalidRefreshToken)?;
    txn.commit().await?;
    Ok((user, token.family_id))
}

async fn revoke_family(db: &impl sea_orm::ConnectionTrait, family_id: Uuid) -> Result<(), AppError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, super::now().into())
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes an access token (until it expires) and the refresh token issued with it.
pub async fn revoke_session(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    jti: Uuid,
    expires_at: i64,
) -> Result<(), AppError> {
    let txn = db.begin().await?;
    let expires_at = chrono::DateTime::from_timestamp(expires_at, 0).unwrap_or_else(super::now);
    revoked_access_token::Entity::insert(revoked_access_token::ActiveModel {
        jti: Set(jti),
        tenant_id: Set(tenant_id),
        expires_at: Set(expires_at),
    })
    .on_conflict_do_nothing_on([revoked_access_token::Column::Jti])
    .exec(&txn)
    .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, super::now().into())
        .filter(refresh_token::Column::AccessJti.eq(jti))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The `jti`s of revoked access tokens that have not expired yet.
pub async fn revoked_jtis(db: &DatabaseConnection) -> Result<Vec<Uuid>, AppError> {
    let rows = revoked_access_token::Entity::find()
        .filter(revoked_access_token::Column::ExpiresAt.gt(super::now()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|r| r.jti).collect())
}
