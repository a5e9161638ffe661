//! Tenants, users, API keys and deployment settings.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, SqlErr,
    TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::customers::{self, NewCustomer};
use super::entities::{api_key, setting, tenant, user};
use crate::auth::{Permission, Plan, Role, password, tokens};
use crate::error::AppError;

/// Whether the database has no tenant yet (a first start).
pub async fn is_empty(db: &DatabaseConnection) -> Result<bool, AppError> {
    Ok(tenant::Entity::find().count(db).await? == 0)
}

pub async fn create_tenant(
    db: &DatabaseConnection,
    slug: &str,
    name: &str,
    plan: Plan,
) -> Result<tenant::Model, AppError> {
    let row = tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slug.to_string()),
        name: Set(name.to_string()),
        plan: Set(plan.as_str().to_string()),
        created_at: Set(super::now()),
    };
    tenant::Entity::insert(row).exec_with_returning(db).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict {
            code: "tenant_taken",
            detail: format!("a tenant {slug} already exists"),
            errors: vec![],
        },
        _ => e.into(),
    })
}

pub async fn find_tenant(db: &DatabaseConnection, slug: &str) -> Result<Option<tenant::Model>, AppError> {
    Ok(tenant::Entity::find().filter(tenant::Column::Slug.eq(slug)).one(db).await?)
}

/// Every tenant, oldest first.
pub async fn list_tenants(db: &DatabaseConnection) -> Result<Vec<tenant::Model>, AppError> {
    Ok(tenant::Entity::find().order_by_asc(tenant::Column::CreatedAt).order_by_asc(tenant::Column::Id).all(db).await?)
}

/// The tenant's users, oldest first.
pub async fn list_users(db: &DatabaseConnection, tenant_id: Uuid) -> Result<Vec<user::Model>, AppError> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .order_by_asc(user::Column::CreatedAt)
        .order_by_asc(user::Column::Id)
        .all(db)
        .await?)
}

/// The tenant's API keys, revoked ones included, oldest first.
pub async fn list_api_keys(db: &DatabaseConnection, tenant_id: Uuid) -> Result<Vec<api_key::Model>, AppError> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .order_by_asc(api_key::Column::CreatedAt)
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await?)
}

/// Replaces a user's password and ends every session the user has (a reset must lock out whoever
/// knew the old one); returns how many sessions were ended.
pub async fn set_password(db: &DatabaseConnection, user: &user::Model, password: &str) -> Result<usize, AppError> {
    let hash = password::hash(password);
    let txn = db.begin().await?;
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, hash.into())
        .filter(user::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    let ended = super::tokens::end_user_sessions(&txn, user).await?;
    txn.commit().await?;
    Ok(ended)
}

pub async fn get_tenant(db: &DatabaseConnection, id: Uuid) -> Result<Option<tenant::Model>, AppError> {
    Ok(tenant::Entity::find_by_id(id).one(db).await?)
}

/// Creates a user; the email is stored lower-cased and must be unique within the tenant. A
/// customer-role user is linked to the tenant's customer record with the same email, which is
/// created (named after the email) when there is none.
pub async fn create_user(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    email: &str,
    password: &str,
    role: Role,
) -> Result<user::Model, AppError> {
    let customer_id = match role {
        Role::Customer => Some(match customers::find_by_email(db, tenant_id, email).await? {
            Some(customer) => customer.id,
            None => {
                let local = email.split('@').next().unwrap_or(email).chars().take(100).collect::<String>();
                let new = NewCustomer {
                    email: email.to_string(),
                    first_name: if local.is_empty() { "Customer".into() } else { local },
                    last_name: "Customer".into(),
                    phone: None,
                    default_address: None,
                };
                customers::insert(db, tenant_id, new).await?.id
            }
        }),
        Role::Admin | Role::Staff => None,
    };
    let row = user::ActiveModel {
        customer_id: Set(customer_id),
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        email: Set(email.trim().to_lowercase()),
        password_hash: Set(password::hash(password)),
        role: Set(role.as_str().to_string()),
        created_at: Set(super::now()),
    };
    user::Entity::insert(row).exec_with_returning(db).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::Conflict { code: "email_taken", detail: format!("a user {email} already exists"), errors: vec![] }
        }
        _ => e.into(),
    })
}

pub async fn find_user(db: &DatabaseConnection, tenant_id: Uuid, email: &str) -> Result<Option<user::Model>, AppError> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Email.eq(email.trim().to_lowercase()))
        .one(db)
        .await?)
}

pub async fn get_user(db: &DatabaseConnection, id: Uuid) -> Result<Option<user::Model>, AppError> {
    Ok(user::Entity::find_by_id(id).one(db).await?)
}

/// Creates an API key and returns it with its secret, which is shown once and never stored.
pub async fn create_api_key(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    name: &str,
    scopes: &[Permission],
    plan: Plan,
) -> Result<(api_key::Model, String), AppError> {
    let secret = tokens::opaque_secret("ck");
    let row = api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant_id),
        name: Set(name.to_string()),
        key_hash: Set(tokens::digest(&secret)),
        scopes: Set(Value::from(scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>())),
        plan: Set(plan.as_str().to_string()),
        created_at: Set(super::now()),
        revoked_at: Set(None),
    };
    Ok((api_key::Entity::insert(row).exec_with_returning(db).await?, secret))
}

/// Revokes API key `id`; `false` when there is no live key with that id.
pub async fn revoke_api_key(db: &DatabaseConnection, id: Uuid) -> Result<bool, AppError> {
    let result = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, super::now().into())
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Every live (not revoked) API key, for the in-memory mirror.
pub async fn live_api_keys(db: &DatabaseConnection) -> Result<Vec<api_key::Model>, AppError> {
    Ok(api_key::Entity::find().filter(api_key::Column::RevokedAt.is_null()).all(db).await?)
}

/// The live (not revoked) API key with this secret.
pub async fn find_api_key(db: &DatabaseConnection, secret: &str) -> Result<Option<api_key::Model>, AppError> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(tokens::digest(secret)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?)
}

/// The secret that signs access tokens: the configured one, else the one kept in the database,
/// created by whichever instance starts first.
pub async fn jwt_secret(db: &DatabaseConnection, configured: Option<&str>) -> Result<Vec<u8>, AppError> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    const KEY: &str = "jwt_secret";
    let candidate = setting::ActiveModel { key: Set(KEY.into()), value: Set(tokens::opaque_secret("jwt")) };
    setting::Entity::insert(candidate).on_conflict_do_nothing_on([setting::Column::Key]).exec(db).await?;
    let stored = setting::Entity::find_by_id(KEY.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal("the JWT secret vanished".into()))?;
    Ok(stored.value.into_bytes())
}
