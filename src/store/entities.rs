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

pub mod revoked_access_token {
    use sea_orm::entity::prelude::*;

    /// Access tokens revoked before they expire (by `jti`); rows are useless after `expires_at`.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revoked_access_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: Uuid,
        pub tenant_id: Uuid,
        pub expires_at: DateTimeUtc,
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
