//! The Commerce API implemented: [`Handlers`] implements the generated [`CommerceApi`] trait, one
//! method per operationId. Each method is a one-line delegation to the module of its tag, where
//! the operation's logic lives (`createProduct` -> `products::create_product`).

mod auth;
mod pending;
mod products;

use std::sync::Arc;

use commerce_generated::models;
use commerce_generated::*;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::auth::tokens::JwtKeys;
use crate::auth::{Actor, Permission, Permissions, Principal};
use crate::error::{AppError, respond};
use crate::spec::ApiDocument;
use crate::store;

/// Everything an operation needs: the database, the token keys and the spec's validators.
pub struct Handlers {
    pub db: DatabaseConnection,
    pub keys: JwtKeys,
    pub spec: Arc<ApiDocument>,
}

impl CommerceApi for Handlers {
    type Principal = Principal;

    async fn authenticate(&self, _operation_id: &'static str, credential: Credential) -> poem::Result<Principal> {
        let principal = match credential {
            Credential::BearerAuth(token) => {
                let principal = self.keys.verify(&token).map_err(AppError::Unauthorized)?;
                if let Actor::User { jti, .. } = principal.actor
                    && store::tokens::is_revoked(&self.db, jti).await?
                {
                    return Err(AppError::Unauthorized("the access token has been revoked".into()).into());
                }
                principal
            }
            Credential::ApiKey(secret) => {
                let key = store::tenants::find_api_key(&self.db, &secret)
                    .await?
                    .ok_or_else(|| AppError::Unauthorized("the API key is not valid".into()))?;
                let scopes: Vec<&str> =
                    key.scopes.as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect();
                // Unknown scope names (from a newer version) grant nothing.
                let permissions: Permissions = scopes.iter().filter_map(|s| s.parse::<Permission>().ok()).collect();
                Principal { tenant_id: key.tenant_id, actor: Actor::ApiKey { id: key.id }, permissions }
            }
        };
        Ok(principal)
    }

    fn validate_body(&self, operation_id: &'static str, body: &serde_json::Value) -> poem::Result<()> {
        Ok(self.spec.validate_body(operation_id, body)?)
    }

    async fn login(&self, body: models::LoginRequest) -> poem::Result<LoginResponse> {
        respond(auth::login(self, body).await)
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
        body: models::ProductCreate,
    ) -> poem::Result<CreateProductResponse> {
        respond(products::create_product(self, principal, body).await)
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
        body: models::ProductUpdate,
    ) -> poem::Result<UpdateProductResponse> {
        respond(products::update_product(self, principal, product_id, body).await)
    }

    async fn list_orders(&self, principal: Principal, params: ListOrdersParams) -> poem::Result<ListOrdersResponse> {
        respond(pending::not_yet("listOrders", (principal, params)))
    }

    async fn create_order(&self, principal: Principal, body: models::OrderCreate) -> poem::Result<CreateOrderResponse> {
        respond(pending::not_yet("createOrder", (principal, body)))
    }

    async fn get_order(&self, principal: Principal, order_id: Uuid) -> poem::Result<GetOrderResponse> {
        respond(pending::not_yet("getOrder", (principal, order_id)))
    }

    async fn update_order_status(
        &self,
        principal: Principal,
        order_id: Uuid,
        body: models::OrderStatusUpdate,
    ) -> poem::Result<UpdateOrderStatusResponse> {
        respond(pending::not_yet("updateOrderStatus", (principal, order_id, body)))
    }

    async fn list_customers(
        &self,
        principal: Principal,
        params: ListCustomersParams,
    ) -> poem::Result<ListCustomersResponse> {
        respond(pending::not_yet("listCustomers", (principal, params)))
    }

    async fn create_customer(
        &self,
        principal: Principal,
        body: models::CustomerCreate,
    ) -> poem::Result<CreateCustomerResponse> {
        respond(pending::not_yet("createCustomer", (principal, body)))
    }

    async fn get_customer(&self, principal: Principal, customer_id: Uuid) -> poem::Result<GetCustomerResponse> {
        respond(pending::not_yet("getCustomer", (principal, customer_id)))
    }

    async fn update_customer(
        &self,
        principal: Principal,
        customer_id: Uuid,
        body: models::CustomerUpdate,
    ) -> poem::Result<UpdateCustomerResponse> {
        respond(pending::not_yet("updateCustomer", (principal, customer_id, body)))
    }
}
