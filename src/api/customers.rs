//! `listCustomers`, `createCustomer`, `getCustomer`, `updateCustomer`. A customer-role caller sees
//! and changes only its own customer record; anyone else's answers 404.

use commerce_generated::models::{Address, Customer, CustomerCreate, CustomerList, CustomerUpdate};
use commerce_generated::{
    CreateCustomerParams, CreateCustomerResponse, GetCustomerResponse, ListCustomersParams, ListCustomersResponse,
    UpdateCustomerParams, UpdateCustomerResponse,
};
use commerce_runtime::Json;
use poem_openapi::types::MaybeUndefined;
use uuid::Uuid;

use super::idempotency::{self, Created};
use super::{Handlers, etag, if_match, page, pagination};
use crate::auth::{Permission, Principal};
use crate::error::AppError;
use crate::store::customers::{CustomerChanges, NewCustomer};
use crate::store::{self, entities::customer};

pub async fn list_customers(
    app: &Handlers,
    principal: Principal,
    params: ListCustomersParams,
) -> Result<ListCustomersResponse, AppError> {
    principal.require(Permission::CustomersRead)?;
    let (rows, total) = store::customers::list(
        &app.db,
        principal.tenant_id,
        principal.own_customer(),
        params.search.as_deref(),
        page(params.page, params.page_size),
    )
    .await?;
    let data = rows.into_iter().map(|row| to_wire(row).map(|(c, _)| c)).collect::<Result<Vec<_>, _>>()?;
    Ok(ListCustomersResponse::Ok(Json::new(CustomerList {
        data,
        pagination: pagination(params.page, params.page_size, store::Total::exact(total)),
    })))
}

pub async fn create_customer(
    app: &Handlers,
    principal: Principal,
    params: CreateCustomerParams,
    body: CustomerCreate,
) -> Result<CreateCustomerResponse, AppError> {
    principal.require(Permission::CustomersWrite)?;
    if principal.own_customer().is_some() {
        return Err(AppError::forbidden("customer accounts cannot create customer records"));
    }
    let create = async |fence| {
        let new = NewCustomer {
            email: body.email.clone(),
            first_name: body.first_name.clone(),
            last_name: body.last_name.clone(),
            phone: body.phone.clone(),
            default_address: body.default_address.as_ref().map(address_to_json).transpose()?,
        };
        let (customer, version) = to_wire(store::customers::create(&app.db, principal.tenant_id, new, fence).await?)?;
        Ok(Created { location: format!("/customers/{}", customer.id), etag: etag(version), body: customer })
    };
    let recover = async |id| {
        let row = store::customers::get(&app.db, principal.tenant_id, id)
            .await?
            .ok_or_else(|| AppError::NotFound { kind: "customer", id: id.to_string() })?;
        let (customer, version) = to_wire(row)?;
        Ok(Created { location: format!("/customers/{id}"), etag: etag(version), body: customer })
    };
    let created =
        idempotency::once(app, &principal, params.idempotency_key, "createCustomer", &body, create, recover).await?;
    Ok(CreateCustomerResponse::Created(Json::new(created.body), created.location, created.etag))
}

pub async fn get_customer(app: &Handlers, principal: Principal, id: Uuid) -> Result<GetCustomerResponse, AppError> {
    principal.require(Permission::CustomersRead)?;
    let row = visible(app, &principal, id).await?;
    let (customer, version) = to_wire(row)?;
    Ok(GetCustomerResponse::Ok(Json::new(customer), etag(version)))
}

pub async fn update_customer(
    app: &Handlers,
    principal: Principal,
    id: Uuid,
    params: UpdateCustomerParams,
    body: CustomerUpdate,
) -> Result<UpdateCustomerResponse, AppError> {
    principal.require(Permission::CustomersWrite)?;
    visible(app, &principal, id).await?;
    let changes = CustomerChanges {
        email: body.email,
        first_name: body.first_name,
        last_name: body.last_name,
        phone: patch(body.phone),
        default_address: match body.default_address {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(address) => Some(Some(address_to_json(&address)?)),
        },
    };
    let row = store::customers::update(&app.db, principal.tenant_id, id, changes, if_match(params.if_match))
        .await?
        .ok_or_else(|| not_found(id))?;
    let (customer, version) = to_wire(row)?;
    Ok(UpdateCustomerResponse::Ok(Json::new(customer), etag(version)))
}

/// The customer `id`, if the caller may see it.
async fn visible(app: &Handlers, principal: &Principal, id: Uuid) -> Result<customer::Model, AppError> {
    if principal.own_customer().is_some_and(|own| own != id) {
        return Err(not_found(id));
    }
    store::customers::get(&app.db, principal.tenant_id, id).await?.ok_or_else(|| not_found(id))
}

/// A PATCH field: absent (no change), `null` (clear) or a value.
fn patch<T>(field: MaybeUndefined<T>) -> Option<Option<T>> {
    match field {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

fn not_found(id: Uuid) -> AppError {
    AppError::NotFound { kind: "customer", id: id.to_string() }
}

pub(super) fn address_to_json(address: &Address) -> Result<serde_json::Value, AppError> {
    serde_json::to_value(address).map_err(|e| AppError::Internal(e.to_string()))
}

/// A stored customer as the spec shows it, and its version.
fn to_wire(row: customer::Model) -> Result<(Customer, i64), AppError> {
    let default_address = row
        .default_address
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| AppError::Internal(format!("customer {} has an invalid address: {e}", row.id)))?;
    let customer = Customer {
        id: row.id,
        email: row.email,
        first_name: row.first_name,
        last_name: row.last_name,
        phone: row.phone,
        default_address,
        created_at: row.created_at,
        updated_at: row.updated_at,
    };
    Ok((customer, row.version))
}
