//! `listOrders`, `createOrder`, `getOrder`, `updateOrderStatus`. A customer-role caller works with
//! its own orders only (anyone else's answers 404) and may only cancel them.

use commerce_generated::models::{
    FieldError, Order, OrderCreate, OrderItem, OrderList, OrderStatus, OrderStatusUpdate, ShippingMethod,
};
use commerce_generated::{
    CreateOrderParams, CreateOrderResponse, GetOrderResponse, ListOrdersParams, ListOrdersResponse,
    UpdateOrderStatusParams, UpdateOrderStatusResponse,
};
use commerce_runtime::Json;
use uuid::Uuid;

use super::customers::address_to_json;
use super::idempotency::{self, Created};
use super::{Handlers, etag, if_match, page, pagination};
use crate::auth::{Permission, Principal};
use crate::error::AppError;
use crate::store::orders::{NewLine, NewOrder, OrderFilter, OrderWithItems, Transition};
use crate::store::{self};

pub async fn list_orders(
    app: &Handlers,
    principal: Principal,
    params: ListOrdersParams,
) -> Result<ListOrdersResponse, AppError> {
    principal.require(Permission::OrdersRead)?;
    let filter =
        OrderFilter { only: principal.own_customer(), status: params.status, from: params.from, to: params.to };
    let (rows, total) =
        store::orders::list(&app.db, principal.tenant_id, &filter, page(params.page, params.page_size)).await?;
    let data = rows.into_iter().map(|row| to_wire(row).map(|(o, _)| o)).collect::<Result<Vec<_>, _>>()?;
    Ok(ListOrdersResponse::Ok(Json::new(OrderList {
        data,
        pagination: pagination(params.page, params.page_size, store::Total::exact(total)),
    })))
}

pub async fn create_order(
    app: &Handlers,
    principal: Principal,
    params: CreateOrderParams,
    body: OrderCreate,
) -> Result<CreateOrderResponse, AppError> {
    principal.require(Permission::OrdersWrite)?;
    let customer_id = match (principal.own_customer(), body.customer_id) {
        (Some(own), None) => own,
        (Some(own), Some(requested)) if requested == own => own,
        (Some(_), Some(requested)) => return Err(customer_error(format!("no customer {requested}"))),
        (None, Some(requested)) => requested,
        (None, None) => return Err(customer_error("required when the caller is not a customer".into())),
    };
    // The order takes stock: the products' cached reads are forgotten when it is done.
    let _forget = app.products.writing(principal.tenant_id, body.items.iter().map(|i| i.product_id).collect());
    let create = async |fence| {
        let new = NewOrder {
            id: None,
            customer_id,
            lines: body.items.iter().map(|i| NewLine { product_id: i.product_id, quantity: i.quantity }).collect(),
            shipping_address: address_to_json(&body.shipping_address)?,
            shipping_method: body.shipping_method.as_str().to_string(),
            fence,
        };
        let (order, version) = to_wire(app.orders.create(principal.tenant_id, new).await?)?;
        Ok(Created { location: format!("/orders/{}", order.id), etag: etag(version), body: order })
    };
    let recover = async |id| {
        let row = store::orders::get(&app.db, principal.tenant_id, id, principal.own_customer())
            .await?
            .ok_or_else(|| not_found(id))?;
        let (order, version) = to_wire(row)?;
        Ok(Created { location: format!("/orders/{id}"), etag: etag(version), body: order })
    };
    let created =
        idempotency::once(app, &principal, params.idempotency_key, "createOrder", &body, create, recover).await?;
    Ok(CreateOrderResponse::Created(Json::new(created.body), created.location, created.etag))
}

pub async fn get_order(app: &Handlers, principal: Principal, id: Uuid) -> Result<GetOrderResponse, AppError> {
    principal.require(Permission::OrdersRead)?;
    let row = store::orders::get(&app.db, principal.tenant_id, id, principal.own_customer())
        .await?
        .ok_or_else(|| not_found(id))?;
    let (order, version) = to_wire(row)?;
    Ok(GetOrderResponse::Ok(Json::new(order), etag(version)))
}

pub async fn update_order_status(
    app: &Handlers,
    principal: Principal,
    id: Uuid,
    params: UpdateOrderStatusParams,
    body: OrderStatusUpdate,
) -> Result<UpdateOrderStatusResponse, AppError> {
    principal.require(Permission::OrdersWrite)?;
    if principal.own_customer().is_some() && body.status != OrderStatus::Cancelled {
        return Err(AppError::forbidden("customer accounts can only cancel their orders"));
    }
    let transition = Transition { to: body.status, tracking_number: body.tracking_number, carrier: body.carrier };
    let only = principal.own_customer();
    // A cancellation gives stock back to the order's products.
    let _forget = app.products.writing_tenant(principal.tenant_id);
    let row = store::orders::transition(&app.db, principal.tenant_id, id, only, transition, if_match(params.if_match))
        .await?
        .ok_or_else(|| not_found(id))?;
    let (order, version) = to_wire(row)?;
    Ok(UpdateOrderStatusResponse::Ok(Json::new(order), etag(version)))
}

fn customer_error(detail: String) -> AppError {
    AppError::Validation(vec![FieldError { pointer: Some("/customerId".into()), parameter: None, detail }])
}

fn not_found(id: Uuid) -> AppError {
    AppError::NotFound { kind: "order", id: id.to_string() }
}

/// A stored order as the spec shows it, and its version.
fn to_wire((order, items): OrderWithItems) -> Result<(Order, i64), AppError> {
    let order_id = order.id;
    let corrupt = |what: &str| AppError::Internal(format!("order {order_id} has an invalid {what}"));
    let wire = Order {
        id: order.id,
        customer_id: order.customer_id,
        status: order.status.parse().map_err(|_| corrupt("status"))?,
        items: items
            .into_iter()
            .map(|i| OrderItem {
                product_id: i.product_id,
                sku: i.sku,
                name: i.name,
                quantity: i.quantity,
                unit_price: i.unit_price,
                line_total: i.line_total,
            })
            .collect(),
        currency: order.currency,
        subtotal: order.subtotal,
        total: order.total,
        shipping_address: serde_json::from_value(order.shipping_address).map_err(|_| corrupt("address"))?,
        shipping_method: order.shipping_method.parse::<ShippingMethod>().map_err(|_| corrupt("shipping method"))?,
        tracking_number: order.tracking_number,
        carrier: order.carrier,
        created_at: order.created_at,
        updated_at: order.updated_at,
    };
    Ok((wire, order.version))
}
