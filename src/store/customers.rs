//! Customer queries. Every read filters by tenant; `only` narrows a read to one customer record (a
//! customer-role caller sees its own record only).

use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, ExprTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::entities::customer::{self, Column};
use super::idempotency::Fence;
use super::{Page, count, escape_like};
use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub default_address: Option<Value>,
}

/// A PATCH: `None` leaves a field as it is; `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<Option<String>>,
    pub default_address: Option<Option<Value>>,
}

fn email_taken(email: &str) -> AppError {
    AppError::Conflict {
        code: "email_taken",
        detail: format!("a customer with email {email} already exists"),
        errors: vec![commerce_generated::models::FieldError {
            pointer: Some("/email".into()),
            parameter: None,
            detail: "already taken".into(),
        }],
    }
}

fn map_unique(e: sea_orm::DbErr, email: &str) -> AppError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => email_taken(email),
        _ => e.into(),
    }
}

/// Creates a customer; with an idempotency claim's `fence`, records it under the claim in the same
/// transaction (or creates nothing if the claim was taken over).
pub async fn create(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    new: NewCustomer,
    fence: Option<Fence>,
) -> Result<customer::Model, AppError> {
    let Some(fence) = fence else { return insert(db, tenant_id, new).await };
    let txn = db.begin().await?;
    let created = insert(&txn, tenant_id, new).await?;
    super::idempotency::record(&txn, &fence, created.id).await?;
    txn.commit().await?;
    Ok(created)
}

/// Inserts a customer on `db` (a connection or a transaction of the caller's).
pub async fn insert(
    db: &impl sea_orm::ConnectionTrait,
    tenant_id: Uuid,
    new: NewCustomer,
) -> Result<customer::Model, AppError> {
    insert_with_id(db, tenant_id, Uuid::now_v7(), new).await
}

/// [`insert`] with the given id (the demo data, whose ids the spec's examples name).
pub async fn insert_with_id(
    db: &impl sea_orm::ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
    new: NewCustomer,
) -> Result<customer::Model, AppError> {
    let now = super::now();
    let email = new.email.trim().to_lowercase();
    let row = customer::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant_id),
        email: Set(email.clone()),
        first_name: Set(new.first_name),
        last_name: Set(new.last_name),
        phone: Set(new.phone),
        default_address: Set(new.default_address),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
    };
    customer::Entity::insert(row).exec_with_returning(db).await.map_err(|e| map_unique(e, &email))
}

pub async fn get(
    db: &impl sea_orm::ConnectionTrait,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<customer::Model>, AppError> {
    Ok(customer::Entity::find_by_id(id).filter(Column::TenantId.eq(tenant_id)).one(db).await?)
}

pub async fn find_by_email(
    db: &impl sea_orm::ConnectionTrait,
    tenant_id: Uuid,
    email: &str,
) -> Result<Option<customer::Model>, AppError> {
    Ok(customer::Entity::find()
        .filter(Column::TenantId.eq(tenant_id))
        .filter(Column::Email.eq(email.trim().to_lowercase()))
        .one(db)
        .await?)
}

/// One page of the tenant's customers (or only `only`), newest first, and how many match.
pub async fn list(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    only: Option<Uuid>,
    search: Option<&str>,
    page: Page,
) -> Result<(Vec<customer::Model>, u64), AppError> {
    let mut select = customer::Entity::find().filter(Column::TenantId.eq(tenant_id));
    if let Some(id) = only {
        select = select.filter(Column::Id.eq(id));
    }
    if let Some(search) = search {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        let matches =
            |col: Column| Expr::expr(Func::lower(Expr::col(col))).like(LikeExpr::new(pattern.clone()).escape('\\'));
        select = select.filter(
            Condition::any().add(matches(Column::FirstName)).add(matches(Column::LastName)).add(matches(Column::Email)),
        );
    }
    let total = count(select.clone(), db).await?;
    let rows = select
        .order_by(Column::CreatedAt, Order::Desc)
        .order_by(Column::Id, Order::Desc)
        .offset(page.offset())
        .limit(page.size)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Applies `changes` if the customer still has `if_version` (when given). `None`: no such customer.
pub async fn update(
    db: &DatabaseConnection,
    tenant_id: Uuid,
    id: Uuid,
    changes: CustomerChanges,
    if_version: Option<i64>,
) -> Result<Option<customer::Model>, AppError> {
    let email = changes.email.as_ref().map(|e| e.trim().to_lowercase());
    let mut update = customer::Entity::update_many()
        .col_expr(Column::Version, Expr::col(Column::Version).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(super::now()));
    if let Some(v) = &email {
        update = update.col_expr(Column::Email, Expr::value(v.clone()));
    }
    if let Some(v) = changes.first_name {
        update = update.col_expr(Column::FirstName, Expr::value(v));
    }
    if let Some(v) = changes.last_name {
        update = update.col_expr(Column::LastName, Expr::value(v));
    }
    if let Some(v) = changes.phone {
        update = update.col_expr(Column::Phone, Expr::value(v));
    }
    if let Some(v) = changes.default_address {
        update = update.col_expr(Column::DefaultAddress, Expr::value(v));
    }
    update = update.filter(Column::Id.eq(id)).filter(Column::TenantId.eq(tenant_id));
    if let Some(version) = if_version {
        update = update.filter(Column::Version.eq(version));
    }
    let result = update.exec(db).await.map_err(|e| map_unique(e, email.as_deref().unwrap_or_default()))?;
    let current = get(db, tenant_id, id).await?;
    match (result.rows_affected, current) {
        (_, None) => Ok(None),
        (0, Some(current)) => Err(super::stale("customer", if_version, current.version)),
        (_, Some(current)) => Ok(Some(current)),
    }
}
