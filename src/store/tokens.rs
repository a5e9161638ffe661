//! Refresh tokens (stored hashed, single use, rotated within a family) and revoked sessions. A
//! session is a refresh-token family: logout with any of its access tokens, or the reuse of one of
//! its refresh tokens, ends it, refusing every token issued in it.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::entities::{refresh_token, revoked_session, user};
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

/// What presenting a refresh token did.
pub enum Redeemed {
    /// It was valid: the next pair is issued to this user, in this session.
    Valid(user::Model, Uuid),
    /// It had been used or revoked already: a reuse, which ended its session (RFC 9700 §4.14.2).
    Reused(Uuid),
}

/// Uses up a refresh token. A token that was already used or revoked is a reuse, which ends its
/// whole session, access tokens included.
pub async fn redeem_refresh(db: &DatabaseConnection, secret: &str) -> Result<Redeemed, AppError> {
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
        end_session(&txn, token.tenant_id, token.family_id).await?;
        txn.commit().await?;
        tracing::warn!(family = %token.family_id, "a used or revoked refresh token was presented: session ended");
        return Ok(Redeemed::Reused(token.family_id));
    }
    if token.expires_at <= now {
        return Err(AppError::InvalidRefreshToken);
    }
    let user = user::Entity::find_by_id(token.user_id).one(&txn).await?.ok_or(AppError::InvalidRefreshToken)?;
    txn.commit().await?;
    Ok(Redeemed::Valid(user, token.family_id))
}

/// Ends a session: its refresh tokens are revoked and its access tokens refused until the last
/// one issued so far has expired.
async fn end_session(db: &impl sea_orm::ConnectionTrait, tenant_id: Uuid, session: Uuid) -> Result<(), AppError> {
    let now = super::now();
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, now.into())
        .filter(refresh_token::Column::FamilyId.eq(session))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    // Every access token of the session was issued by now, so none outlives this.
    let expires_at = now + chrono::Duration::seconds(tokens::ACCESS_TOKEN_TTL_SECS + 60);
    revoked_session::Entity::insert(revoked_session::ActiveModel {
        session_id: Set(session),
        tenant_id: Set(tenant_id),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(revoked_session::Column::SessionId)
            .update_column(revoked_session::Column::ExpiresAt)
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}

/// Ends every session of `user` that may still be live (one with a refresh token not yet expired);
/// returns how many.
pub async fn end_user_sessions(db: &impl sea_orm::ConnectionTrait, user: &user::Model) -> Result<usize, AppError> {
    let sessions: Vec<Uuid> = refresh_token::Entity::find()
        .select_only()
        .column(refresh_token::Column::FamilyId)
        .distinct()
        .filter(refresh_token::Column::UserId.eq(user.id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(super::now()))
        .into_tuple()
        .all(db)
        .await?;
    for &session in &sessions {
        end_session(db, user.tenant_id, session).await?;
    }
    Ok(sessions.len())
}

/// Logs a session out: ends it (see [`end_session`]).
pub async fn revoke_session(db: &DatabaseConnection, tenant_id: Uuid, session: Uuid) -> Result<(), AppError> {
    let txn = db.begin().await?;
    end_session(&txn, tenant_id, session).await?;
    txn.commit().await?;
    Ok(())
}

/// The sessions ended whose access tokens may not all have expired yet.
pub async fn revoked_sessions(db: &DatabaseConnection) -> Result<Vec<Uuid>, AppError> {
    let rows =
        revoked_session::Entity::find().filter(revoked_session::Column::ExpiresAt.gt(super::now())).all(db).await?;
    Ok(rows.into_iter().map(|r| r.session_id).collect())
}
