//! Who a request acts for: principals, roles and permissions, password hashing, access tokens and
//! opaque tokens (refresh tokens, API keys).

pub mod api_keys;
pub mod password;
pub mod revocations;
pub mod tokens;

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::AppError;

/// A permission an operation can need. Roles grant sets of them; API keys carry them as scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    ProductsRead,
    ProductsWrite,
    OrdersRead,
    OrdersWrite,
    CustomersRead,
    CustomersWrite,
}

impl Permission {
    pub const ALL: [Self; 6] = [
        Self::ProductsRead,
        Self::ProductsWrite,
        Self::OrdersRead,
        Self::OrdersWrite,
        Self::CustomersRead,
        Self::CustomersWrite,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProductsRead => "products:read",
            Self::ProductsWrite => "products:write",
            Self::OrdersRead => "orders:read",
            Self::OrdersWrite => "orders:write",
            Self::CustomersRead => "customers:read",
            Self::CustomersWrite => "customers:write",
        }
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            let valid = Self::ALL.map(Self::as_str).join(", ");
            format!("unknown permission {s:?}; the permissions are {valid}")
        })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u32);

impl Permissions {
    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, p| bits | p.bit()))
    }
}

/// A user's role within its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Staff,
    Customer,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Staff => "staff",
            Self::Customer => "customer",
        }
    }

    /// What the role may do. Customers read the catalogue and work with their own orders and
    /// customer record (ownership is checked by the operations themselves).
    pub fn permissions(self) -> Permissions {
        use Permission::*;
        match self {
            Self::Admin | Self::Staff => Permission::ALL.into_iter().collect(),
            Self::Customer => {
                [ProductsRead, OrdersRead, OrdersWrite, CustomersRead, CustomersWrite].into_iter().collect()
            }
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Admin, Self::Staff, Self::Customer]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (admin, staff or customer)"))
    }
}

/// A rate-limit plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Standard,
    Enterprise,
}

impl Plan {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Enterprise => "enterprise",
        }
    }
}

impl FromStr for Plan {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Self::Standard),
            "enterprise" => Ok(Self::Enterprise),
            other => Err(format!("unknown plan {other:?} (standard or enterprise)")),
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A user with a bearer token of session `session` (the refresh-token family it was issued in:
    /// logout and reuse revoke a session with every token issued in it); `expires_at` is the token's.
    /// `customer_id` links a customer-role user to the customer record it is.
    User { id: Uuid, role: Role, customer_id: Option<Uuid>, session: Uuid, expires_at: i64 },
    /// A server-to-server API key.
    ApiKey { id: Uuid },
}

/// An authenticated caller: always exactly one tenant, and what it may do there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub actor: Actor,
    pub permissions: Permissions,
    pub plan: Plan,
}

impl Principal {
    /// The id rate limits and idempotency keys are kept under: `user:<id>` or `key:<id>`.
    pub fn key(&self) -> String {
        match &self.actor {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::ApiKey { id } => format!("key:{id}"),
        }
    }

    /// `Some(customer)` when the caller may only see that customer's records (a customer-role user;
    /// one with no customer record sees nothing), `None` when it sees the whole tenant.
    pub fn own_customer(&self) -> Option<Uuid> {
        match &self.actor {
            Actor::User { role: Role::Customer, customer_id, .. } => Some(customer_id.unwrap_or(Uuid::nil())),
            _ => None,
        }
    }

    /// Fails with 403 unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!("this operation needs the {permission} permission")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_cannot_write_products_but_staff_can() {
        assert!(!Role::Customer.permissions().contains(Permission::ProductsWrite));
        assert!(Role::Customer.permissions().contains(Permission::ProductsRead));
        assert!(Role::Staff.permissions().contains(Permission::ProductsWrite));
    }

    #[test]
    fn permissions_round_trip_through_their_names() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
        }
        assert!("products:delete".parse::<Permission>().is_err());
    }
}
