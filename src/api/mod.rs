//! The Commerce API implemented: [`Handlers`] implements the generated [`CommerceApi`] trait, one
//! method per operationId. Each method is a one-line delegation to the module of its tag, where
//! the operation's logic lives (`createOrder` -> `orders::create_order`).

mod auth;
pub mod cache;
mod customers;
mod idempotency;
mod orders;
mod probes;
mod products;

use std::sync::Arc;

use commerce_generated::models;
use commerce_generated::*;
use commerce_runtime::BodyCheck;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::auth::tokens::JwtKeys;
use crate::auth::{Actor, Principal};
use crate::error::{AppError, respond};
use crate::http::context;
use crate::ratelimit::RateLimits;
use crate::spec::ApiDocument;
use crate::store;

/// Everything an operation needs: the database, the token keys, the spec's validators, the limits.
pub struct Handlers {
    pub db: DatabaseConnection,
    /// The hot reads (products): on a SQLite file, on synchronous connections of their own.
    pub reads: store::reads::Reads,
    pub keys: JwtKeys,
    pub spec: Arc<ApiDocument>,
    pub limits: Arc<RateLimits>,
    /// Recently read products (reads after this instance's writes are never stale).
    pub products: Arc<cache::ProductCache>,
    /// Where orders are created, in batches that share a commit.
    pub orders: crate::store::desk::OrderDesk,
    /// On a SQLite file: its write-ahead log copied back into it off the writers' path.
    pub checkpoints: Option<crate::store::checkpoints::Checkpointer>,
    /// Revoked access tokens, mirrored from the database.
    pub revocations: Arc<crate::auth::revocations::Revocations>,
    /// Live API keys, mirrored from the table.
    pub api_keys: Arc<crate::auth::api_keys::ApiKeys>,
    /// Request counts and latencies, recorded by the HTTP middleware.
    pub metrics: Arc<crate::http::metrics::Metrics>,
    /// How long an idempotency claim is held by the request running it: longer than any request
    /// may take (the request timeout), so only a request that died loses its claim.
    pub idempotency_lease: std::time::Duration,
    /// Failed authentications per client address (the HTTP middleware counts and refuses).
    pub failed_auth: Arc<crate::ratelimit::FailedAuth>,
    /// Failed logins allowed per account and address before that address is refused for it.
    pub login_max_failures: u32,
}

impl Handlers {
    /// Who the credential is, before rate limiting.
    async fn identify(&self, credential: Credential) -> Result<Principal, AppError> {
        match credential {
            Credential::BearerAuth(token) => {
                let principal = self.keys.verify(&token).map_err(AppError::Unauthorized)?;
                if let Actor::User { session, .. } = principal.actor
                    && self.revocations.is_revoked(session)
                {
                    return Err(AppError::Unauthorized("the session has ended (logged out)".into()));
                }
                Ok(principal)
            }
            Credential::ApiKey(secret) => {
                let key = self
                    .api_keys
                    .find(&self.db, &secret)
                    .await?
                    .ok_or_else(|| AppError::Unauthorized("the API key is not valid".into()))?;
                Ok(Principal {
                    tenant_id: key.tenant_id,
                    actor: Actor::ApiKey { id: key.id },
                    permissions: key.permissions,
                    plan: key.plan,
                })
            }
        }
    }
}

/// The version every resource is created at (the stores insert it).
const CREATED_VERSION: i64 = 1;

/// The ETag of a resource at `version`.
fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The version an `If-Match` header asks for: `None` for no header or `*`. A value that is not one
/// of our ETags can match nothing (so it answers 412).
fn if_match(header: Option<String>) -> Option<i64> {
    let value = header?;
    let value = value.trim();
    if value == "*" {
        return None;
    }
    let tag = value.strip_prefix("W/").unwrap_or(value).trim_matches('"');
    Some(tag.parse().unwrap_or(-1))
}

impl CommerceApi for Handlers {
    type Principal = Principal;

    async fn authenticate(
        &self,
        _operation_id: &'static str,
        credential: Credential,
        _scopes: &'static [&'static str],
    ) -> poem::Result<Principal> {
        let principal = self.identify(credential).await?;
        context::record_tenant(principal.tenant_id);
        match self.limits.check(principal.plan, &principal.key()) {
            Ok(usage) => context::record_usage(usage),
            Err((usage, limited)) => {
                context::record_usage(usage);
                return Err(limited.into());
            }
        }
        Ok(principal)
    }

    fn validate_parameters(&self, operation_id: &'static str, req: &poem::Request) -> poem::Result<()> {
        Ok(self.spec.validate_parameters(operation_id, req)?)
    }

    fn validate_body(
        &self,
        operation_id: &'static str,
        _media_type: &'static str,
        body: &serde_json::Value,
    ) -> poem::Result<BodyCheck> {
        self.spec.validate_body(operation_id, body)?;
        Ok(BodyCheck::BySchema)
    }

    async fn healthz(&self) -> poem::Result<HealthzResponse> {
        Ok(probes::healthz())
    }

    async fn readyz(&self) -> poem::Result<ReadyzResponse> {
        Ok(probes::readyz(self).await)
    }

    async fn metrics(&self) -> poem::Result<MetricsResponse> {
        Ok(probes::metrics(self))
    }

    async fn login(&self, body: models::LoginRequest) -> poem::Result<LoginResponse> {
        match auth::login(self, body).await {
            // The documented 429 carries Retry-After: built here, where its value is known.
            Err(e @ AppError::TooManyFailedLogins { retry_after }) => {
                Ok(LoginResponse::TooManyRequests(commerce_runtime::Json::new(e.to_problem()), retry_after as i64))
            }
            result => respond(result),
        }
    }

    async fn refresh_token(&self, body: models::RefreshRequest) -> poem::Result<RefreshTokenResponse> {
        respond(auth::refresh_token(self, body).await)
    }

    async fn logout(&self, principal: Principal) -> poem::Result<LogoutResponse> {
        respond(auth::logout(self, principal).await)
    }

    async fn list_products(
        &self,
        principal: Principal,
        params: ListProductsParams,
    ) -> poem::Result<ListProductsResponse> {
        respond(products::list_products(self, principal, params).await)
    }

    async fn create_product(
        &self,
        principal: Principal,
        params: CreateProductParams,
        body: models::ProductCreate,
    ) -> poem::Result<CreateProductResponse> {
        respond(products::create_product(self, principal, params, body).await)
    }

    async fn get_product(&self, principal: Principal, product_id: Uuid) -> poem::Result<GetProductResponse> {
        respond(products::get_product(self, principal, product_id).await)
    }

    async fn delete_product(&self, principal: Principal, product_id: Uuid) -> poem::Result<DeleteProductResponse> {
        respond(products::delete_product(self, principal, product_id).await)
    }

    async fn update_product(
        &self,
        principal: Principal,
        product_id: Uuid,
        params: UpdateProductParams,
        body: models::ProductUpdate,
    ) -> poem::Result<UpdateProductResponse> {
        respond(products::update_product(self, principal, product_id, params, body).await)
    }

    async fn list_orders(&self, principal: Principal, params: ListOrdersParams) -> poem::Result<ListOrdersResponse> {
        respond(orders::list_orders(self, principal, params).await)
    }

    async fn create_order(
        &self,
        principal: Principal,
        params: CreateOrderParams,
        body: models::OrderCreate,
    ) -> poem::Result<CreateOrderResponse> {
        respond(orders::create_order(self, principal, params, body).await)
    }

    async fn get_order(&self, principal: Principal, order_id: Uuid) -> poem::Result<GetOrderResponse> {
        respond(orders::get_order(self, principal, order_id).await)
    }

    async fn update_order_status(
        &self,
        principal: Principal,
        order_id: Uuid,
        params: UpdateOrderStatusParams,
        body: models::OrderStatusUpdate,
    ) -> poem::Result<UpdateOrderStatusResponse> {
        respond(orders::update_order_status(self, principal, order_id, params, body).await)
    }

    async fn list_customers(
        &self,
        principal: Principal,
        params: ListCustomersParams,
    ) -> poem::Result<ListCustomersResponse> {
        respond(customers::list_customers(self, principal, params).await)
    }

    async fn create_customer(
        &self,
        principal: Principal,
        params: CreateCustomerParams,
        body: models::CustomerCreate,
    ) -> poem::Result<CreateCustomerResponse> {
        respond(customers::create_customer(self, principal, params, body).await)
    }

    async fn get_customer(&self, principal: Principal, customer_id: Uuid) -> poem::Result<GetCustomerResponse> {
        respond(customers::get_customer(self, principal, customer_id).await)
    }

    async fn update_customer(
        &self,
        principal: Principal,
        customer_id: Uuid,
        params: UpdateCustomerParams,
        body: models::CustomerUpdate,
    ) -> poem::Result<UpdateCustomerResponse> {
        respond(customers::update_customer(self, principal, customer_id, params, body).await)
    }
}

/// `pagination` for a page of `size` items out of `total`.
fn pagination(page: i32, size: i32, total: store::Total) -> models::Pagination {
    models::Pagination {
        page,
        page_size: size,
        total: total.n as i64,
        total_pages: total.n.div_ceil(size.max(1) as u64) as i64,
        total_exact: total.exact,
    }
}

/// The store's page for the spec's `page` and `pageSize` (bounds enforced when they were parsed).
fn page(page: i32, size: i32) -> store::Page {
    store::Page { number: page.max(1) as u64, size: size.max(1) as u64 }
}

#[cfg(test)]
mod tests {
    use super::if_match;

    #[test]
    fn if_match_reads_strong_weak_and_wildcard_tags() {
        assert_eq!(if_match(None), None);
        assert_eq!(if_match(Some("\"3\"".into())), Some(3));
        assert_eq!(if_match(Some("W/\"3\"".into())), Some(3));
        assert_eq!(if_match(Some("*".into())), None);
        assert_eq!(if_match(Some("\"abc\"".into())), Some(-1), "a foreign tag matches nothing");
    }
}
