//! `login`, `refreshToken` and `logout`.

use commerce_generated::models::{CacheControlNoStore, LoginRequest, RefreshRequest, TokenPair, TokenPairTokenType};
use commerce_generated::{LoginResponse, LogoutResponse, RefreshTokenResponse};
use commerce_runtime::Json;
use uuid::Uuid;

use super::Handlers;
use crate::auth::tokens::{ACCESS_TOKEN_TTL_SECS, Subject};
use crate::auth::{Actor, Principal, password};
use crate::error::AppError;
use crate::http::context;
use crate::store::throttles::Attempt;
use crate::store::tokens::Redeemed;
use crate::store::{self, entities::user};

pub async fn login(app: &Handlers, body: LoginRequest) -> Result<LoginResponse, AppError> {
    // Throttled before the password is even looked at: the right one is refused too.
    let attempt = Attempt::new(&body.tenant, &body.email, context::current().client);
    store::throttles::check(&app.db, &attempt).await?;
    let user = match store::tenants::find_tenant(&app.db, &body.tenant).await? {
        Some(tenant) => {
            context::record_tenant(tenant.id);
            store::tenants::find_user(&app.db, tenant.id, &body.email).await?
        }
        None => None,
    };
    // An unknown user costs the same time as a wrong password.
    let verified = match &user {
        Some(user) => password::verify(body.password, user.password_hash.clone()).await,
        None => {
            password::verify_dummy(body.password).await;
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        store::throttles::failed(&app.db, &attempt, app.login_max_failures).await?;
        return Err(AppError::InvalidCredentials);
    };
    store::throttles::succeeded(&app.db, &attempt).await?;
    let pair = issue_pair(app, &user, Uuid::now_v7()).await?;
    Ok(LoginResponse::Ok(Json::new(pair), CacheControlNoStore::NoStore))
}

pub async fn refresh_token(app: &Handlers, body: RefreshRequest) -> Result<RefreshTokenResponse, AppError> {
    let (user, family) = match store::tokens::redeem_refresh(&app.db, &body.refresh_token).await? {
        Redeemed::Valid(user, family) => (user, family),
        Redeemed::Reused(session) => {
            // The reuse ended the session: this instance refuses its access tokens at once.
            app.revocations.insert(session);
            return Err(AppError::InvalidRefreshToken);
        }
    };
    let pair = issue_pair(app, &user, family).await?;
    Ok(RefreshTokenResponse::Ok(Json::new(pair), CacheControlNoStore::NoStore))
}

pub async fn logout(app: &Handlers, principal: Principal) -> Result<LogoutResponse, AppError> {
    let Actor::User { session, .. } = principal.actor else {
        return Err(AppError::Forbidden {
            code: "session_required",
            detail: "an API key has no session to log out of; its administrator revokes it".into(),
        });
    };
    // The whole session: every access and refresh token issued since the login.
    store::tokens::revoke_session(&app.db, principal.tenant_id, session).await?;
    app.revocations.insert(session);
    Ok(LogoutResponse::NoContent)
}

/// A new access token and a refresh token of `family` for `user`.
async fn issue_pair(app: &Handlers, user: &user::Model, family: Uuid) -> Result<TokenPair, AppError> {
    let tenant = store::tenants::get_tenant(&app.db, user.tenant_id)
        .await?
        .ok_or_else(|| AppError::Internal(format!("user {} has no tenant", user.id)))?;
    let subject = Subject {
        tenant_id: user.tenant_id,
        user_id: user.id,
        role: user.role.parse().map_err(AppError::Internal)?,
        customer_id: user.customer_id,
        plan: tenant.plan.parse().map_err(AppError::Internal)?,
    };
    let (access_token, claims) = app.keys.issue(&subject, family, chrono::Utc::now().timestamp());
    let refresh_token = store::tokens::issue_refresh(&app.db, user, family, claims.jti).await?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: TokenPairTokenType::Bearer,
        expires_in: ACCESS_TOKEN_TTL_SECS as i32,
    })
}
