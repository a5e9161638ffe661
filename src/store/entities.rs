//! sea-orm entities: one module per table. They know nothing of HTTP; every tenant-owned table has
//! a `tenant_id`, and every query on it filters by the caller's tenant.

pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub slug: String,
        pub name: String,
        /// `standard` or `enterprise`: the rate limit of its users.
        pub plan: String,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// Lower-cased; unique within the tenant.
        pub email: String,
        /// An argon2id PHC string.
        pub password_hash: String,
        /// `admin`, `staff` or `customer`.
        pub role: String,
        /// For the customer role: the customer record this user is (and may see the orders of).
        pub customer_id: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod product {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// Unique within the tenant among products that are not deleted.
        pub sku: String,
        pub name: String,
        pub description: String,
        pub category: String,
        /// Minor units of `currency`.
        pub price: i64,
        pub currency: String,
        pub stock: i32,
        pub active: bool,
        /// A JSON array of strings.
        pub tags: Json,
        /// A JSON array of URLs.
        pub images: Json,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Set by a soft delete; such a product is invisible to every read.
        pub deleted_at: Option<DateTimeUtc>,
        /// Incremented by every change: the ETag.
        pub version: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod customer {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "customers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// Lower-cased; unique within the tenant.
        pub email: String,
        pub first_name: String,
        pub last_name: String,
        pub phone: Option<String>,
        /// An `Address` object as JSON.
        pub default_address: Option<Json>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Incremented by every change: the ETag.
        pub version: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order {
    use sea_orm::entity::prelude::*;

    /// `Serialize` writes a row as its columns (PostgreSQL's batched order insert reads them so).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub customer_id: Uuid,
        /// One of the spec's `OrderStatus` values.
        pub status: String,
        pub currency: String,
        /// Minor units.
        pub subtotal: i64,
        /// Minor units.
        pub total: i64,
        /// An `Address` object as JSON.
        pub shipping_address: Json,
        pub shipping_method: String,
        pub tracking_number: Option<String>,
        pub carrier: Option<String>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        /// Incremented by every change: the ETag.
        pub version: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_item {
    use sea_orm::entity::prelude::*;

    /// A line of an order: the product's sku, name and price copied when the order was placed.
    /// `Serialize` writes it as its columns, as for orders.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "order_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub order_id: Uuid,
        pub tenant_id: Uuid,
        /// The line's index in the request.
        pub position: i32,
        pub product_id: Uuid,
        pub sku: String,
        pub name: String,
        pub quantity: i32,
        pub unit_price: i64,
        pub line_total: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    /// A create made safe to retry: the first response, replayed for the same key and body.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// `user:<id>` or `key:<id>`: keys are scoped to tenant and principal.
        pub principal: String,
        pub key: String,
        /// SHA-256 of the operation id and the canonical request body.
        pub request_hash: String,
        /// Set when the first request finished; until then it is in progress.
        pub response_status: Option<i32>,
        pub response_body: Option<Json>,
        pub response_location: Option<String>,
        pub created_at: DateTimeUtc,
        /// Until when the claim is held by the request running it; past it, a retry may take over.
        pub lease_until: Option<DateTimeUtc>,
        /// Changes on every takeover: the create's transaction records its resource only while
        /// its token is still the claim's (a fencing token).
        pub claim_token: Option<Uuid>,
        /// The resource the key created, written in the same transaction as the resource.
        pub resource_id: Option<Uuid>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod refresh_token {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "refresh_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub user_id: Uuid,
        /// Every token rotated from one login shares a family: reuse of a rotated token revokes it.
        pub family_id: Uuid,
        /// SHA-256 of the token, hex; the token itself is never stored.
        #[sea_orm(unique)]
        pub token_hash: String,
        /// The `jti` of the access token issued with this refresh token (logout revokes both).
        pub access_jti: Uuid,
        pub expires_at: DateTimeUtc,
        /// Set when the token is exchanged; a second exchange is a reuse.
        pub used_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod revoked_session {
    use sea_orm::entity::prelude::*;

    /// Sessions (refresh-token families) ended by a logout or a reuse: every access token issued in
    /// one is refused. Rows are useless after `expires_at`, when the last such token has expired.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revoked_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub session_id: Uuid,
        pub tenant_id: Uuid,
        pub expires_at: DateTimeUtc,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod login_throttle {
    use sea_orm::entity::prelude::*;

    /// Failed logins counted per key (`pair:`, `account:`, `address:`), shared by every instance.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_throttles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// Failures since `window_started_at`.
        pub failures: i32,
        pub window_started_at: DateTimeUtc,
        /// Logins under this key are refused with 429 until then.
        pub blocked_until: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod api_key {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub name: String,
        /// SHA-256 of the key, hex; the key is shown once at creation and never stored.
        #[sea_orm(unique)]
        pub key_hash: String,
        /// A JSON array of scope names such as `products:write`.
        pub scopes: Json,
        /// `standard` or `enterprise`.
        pub plan: String,
        pub created_at: DateTimeUtc,
        pub revoked_at: Option<DateTimeUtc>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod setting {
    use sea_orm::entity::prelude::*;

    /// Deployment-wide settings shared by every instance (the JWT signing secret).
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
