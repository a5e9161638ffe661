//! First start on an empty database: tenant `demo`, its admin user and sample products, so that
//! `/docs` is usable at once.

use sea_orm::DatabaseConnection;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Plan, Role, tokens};
use crate::config::Config;
use crate::error::AppError;
use crate::store::customers::NewCustomer;
use crate::store::orders::{NewLine, NewOrder, Transition};
use crate::store::{self, products::NewProduct};
use commerce_generated::models::OrderStatus;

/// What the first start created.
#[derive(Debug)]
pub struct FirstStart {
    pub admin_email: String,
    pub admin_password: AdminPassword,
}

/// Where the first admin's password came from.
#[derive(Debug)]
pub enum AdminPassword {
    /// `COMMERCE_ADMIN_PASSWORD`: not shown.
    Given(String),
    /// The spec's login example: the demo on a loopback address.
    Documented(String),
    /// Generated: shown this once.
    Generated(String),
}

impl AdminPassword {
    pub fn text(&self) -> &str {
        match self {
            Self::Given(p) | Self::Documented(p) | Self::Generated(p) => p,
        }
    }
}

/// Refuses to serve beyond this machine while an admin of tenant `demo` still has the spec's
/// documented password (anyone who read the docs could log in).
pub async fn refuse_documented_password(db: &DatabaseConnection, listen: &str) -> Result<(), String> {
    if is_loopback(listen) {
        return Ok(());
    }
    let documented = Documented::from_spec();
    let Some(tenant) = store::tenants::find_tenant(db, "demo").await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let Some(user) = store::tenants::find_user(db, tenant.id, &documented.email).await.map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    if crate::auth::password::verify(documented.password.clone(), user.password_hash.clone()).await {
        return Err(format!(
            "{} of tenant demo still has the documented demo password, which anyone who reads the API's docs \
             knows; it may only be served on a loopback address. Change it first: \
             `commerce user set-password --tenant demo --email {}`",
            user.email, user.email
        ));
    }
    Ok(())
}

/// What the spec's examples name, so that Swagger UI's "Try it out" works as prefilled on the demo
/// data: the login's email and password, and the ids of a product, a customer and an order.
pub struct Documented {
    pub email: String,
    pub password: String,
    pub product: Uuid,
    pub customer: Uuid,
    pub order: Uuid,
}

impl Documented {
    /// Read from the embedded spec (`paths./auth/login` and `components/parameters`).
    pub fn from_spec() -> Self {
        let document: Value = serde_json::from_str(commerce_generated::DOCUMENT).expect("the generated document");
        let text = |pointer: &str| {
            document.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("the spec has {pointer}"))
        };
        let login = "/paths/~1auth~1login/post/requestBody/content/application~1json/example";
        let id = |name: &str| text(&format!("/components/parameters/{name}/example")).parse().expect("a UUID example");
        Self {
            email: text(&format!("{login}/email")).into(),
            password: text(&format!("{login}/password")).into(),
            product: id("ProductId"),
            customer: id("CustomerId"),
            order: id("OrderId"),
        }
    }
}

/// Whether `listen` is a loopback address (only this machine can connect).
pub fn is_loopback(listen: &str) -> bool {
    let host = listen.rsplit_once(':').map_or(listen, |(host, _)| host).trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Creates the demo tenant when the database has no tenant; `None` when it already had one.
///
/// The admin's password is `COMMERCE_ADMIN_PASSWORD` when set. Otherwise, with the demo data on a
/// loopback address, it is the spec's documented login password, so that Swagger UI works as
/// prefilled; anywhere else it is generated (and printed once). [`refuse_documented_password`]
/// keeps the documented password from ever being served beyond this machine.
pub async fn first_start(db: &DatabaseConnection, config: &Config) -> Result<Option<FirstStart>, AppError> {
    if !store::tenants::is_empty(db).await? {
        return Ok(None);
    }
    let documented = Documented::from_spec();
    let tenant = store::tenants::create_tenant(db, "demo", "Demo Store", Plan::Standard).await?;
    let demo = config.seed_demo && config.admin_email == documented.email && is_loopback(&config.listen);
    let chosen = match (&config.admin_password, demo) {
        (Some(password), _) => AdminPassword::Given(password.clone()),
        (None, true) => AdminPassword::Documented(documented.password.clone()),
        (None, false) => AdminPassword::Generated(tokens::opaque_secret("pw")),
    };
    store::tenants::create_user(db, tenant.id, &config.admin_email, chosen.text(), Role::Admin).await?;
    if config.seed_demo {
        seed_demo(db, tenant.id, &documented).await?;
    }
    Ok(Some(FirstStart { admin_email: config.admin_email.clone(), admin_password: chosen }))
}

/// The sample catalogue, a customer, and a confirmed order of theirs, under the ids the spec's
/// examples use.
async fn seed_demo(db: &DatabaseConnection, tenant: Uuid, documented: &Documented) -> Result<(), AppError> {
    let mut products = sample_products().into_iter();
    let first = products.next().expect("the sample catalogue");
    store::products::create_with_id(db, tenant, documented.product, first).await?;
    for product in products {
        store::products::create(db, tenant, product, None).await?;
    }
    let address = serde_json::json!({
        "name": "Sofia Chen", "line1": "123 Madison Ave", "city": "New York", "state": "NY",
        "postalCode": "10016", "country": "US"
    });
    let customer = NewCustomer {
        email: "sofia.chen@example.com".into(),
        first_name: "Sofia".into(),
        last_name: "Chen".into(),
        phone: Some("+15551234567".into()),
        default_address: Some(address.clone()),
    };
    store::customers::insert_with_id(db, tenant, documented.customer, customer).await?;
    let order = NewOrder {
        id: Some(documented.order),
        customer_id: documented.customer,
        lines: vec![NewLine { product_id: documented.product, quantity: 1 }],
        shipping_address: address,
        shipping_method: "standard".into(),
        fence: None,
    };
    let mut created = store::orders::create_batch(db, &[(tenant, order)]).await?;
    created.pop().unwrap_or_else(|| Err(AppError::Internal("no demo order".into())))?;
    let confirm = Transition { to: OrderStatus::Confirmed, tracking_number: None, carrier: None };
    store::orders::transition(db, tenant, documented.order, None, confirm, None).await?;
    Ok(())
}

/// The sku prefix of generated products.
pub const SEED_SKU_PREFIX: &str = "SEED-";

/// Words generated products are named with, so searches over a seeded catalogue look like
/// searches over a real one (each word matches a share of the products, not all or one).
const SEED_ADJECTIVES: [&str; 24] = [
    "rugged",
    "classic",
    "compact",
    "vintage",
    "modern",
    "waterproof",
    "lightweight",
    "premium",
    "cozy",
    "sleek",
    "sturdy",
    "portable",
    "elegant",
    "minimal",
    "bold",
    "soft",
    "durable",
    "wireless",
    "handmade",
    "urban",
    "alpine",
    "coastal",
    "quiet",
    "bright",
];
const SEED_MATERIALS: [&str; 16] = [
    "leather", "canvas", "wool", "cotton", "steel", "bamboo", "ceramic", "walnut", "linen", "suede", "aluminum",
    "glass", "denim", "oak", "silk", "carbon",
];
const SEED_NOUNS: [[&str; 8]; 5] = [
    ["boot", "sneaker", "sandal", "loafer", "slipper", "runner", "clog", "trainer"],
    ["jacket", "sweater", "shirt", "hoodie", "scarf", "vest", "parka", "cardigan"],
    ["backpack", "wallet", "belt", "watch", "tote", "cap", "umbrella", "satchel"],
    ["speaker", "headphones", "charger", "keyboard", "lamp", "camera", "tracker", "radio"],
    ["mug", "kettle", "blanket", "vase", "pillow", "skillet", "planter", "clock"],
];

/// `count` generated products numbered from `first` (`SEED-00001`, ...) across every category, for
/// load tests and demos: named from a vocabulary (`Rugged Leather Boot`), picked by a hash of the
/// number so neighbours differ.
pub fn generated_products(first: u64, count: u64) -> Vec<NewProduct> {
    const CATEGORIES: [&str; 5] = ["footwear", "apparel", "accessories", "electronics", "home"];
    let title = |word: &str| word[..1].to_uppercase() + &word[1..];
    (first..first + count)
        .map(|i| {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
            let category = (i % CATEGORIES.len() as u64) as usize;
            let adjective = SEED_ADJECTIVES[(h % 24) as usize];
            let other = SEED_ADJECTIVES[((h >> 8) % 24) as usize];
            let material = SEED_MATERIALS[((h >> 16) % 16) as usize];
            let noun = SEED_NOUNS[category][((h >> 24) % 8) as usize];
            NewProduct {
                sku: format!("{SEED_SKU_PREFIX}{i:05}"),
                name: format!("{} {} {}", title(adjective), title(material), title(noun)),
                description: format!("Seeded product {i}: a {other} {noun} in {material}, for load tests and demos."),
                category: CATEGORIES[category].into(),
                price: 100 + (i as i64 * 37) % 50_000,
                currency: "USD".into(),
                stock: 1_000_000,
                active: i % 10 != 0,
                tags: vec!["seeded".into()],
                images: vec![],
            }
        })
        .collect()
}

fn sample_products() -> Vec<NewProduct> {
    let p =
        |sku: &str, name: &str, description: &str, category: &str, price: i64, stock: i32, tags: &[&str]| NewProduct {
            sku: sku.into(),
            name: name.into(),
            description: description.into(),
            category: category.into(),
            price,
            currency: "USD".into(),
            stock,
            active: true,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            images: vec![],
        };
    vec![
        p(
            "FW-RUN-001",
            "Trail Runner",
            "Lightweight trail running shoe with a grippy outsole.",
            "footwear",
            12900,
            42,
            &["running", "trail"],
        ),
        p(
            "FW-BOOT-002",
            "Leather Chelsea Boot",
            "Full-grain leather boot with elastic side panels.",
            "footwear",
            18900,
            15,
            &["leather"],
        ),
        p(
            "AP-TEE-001",
            "Organic Cotton Tee",
            "Heavyweight organic cotton t-shirt.",
            "apparel",
            2900,
            120,
            &["cotton", "basics"],
        ),
        p(
            "AP-JKT-002",
            "Rain Shell Jacket",
            "Packable waterproof shell with taped seams.",
            "apparel",
            14900,
            30,
            &["outdoor"],
        ),
        p(
            "AC-BAG-001",
            "Canvas Tote",
            "Waxed canvas tote bag with leather handles.",
            "accessories",
            5900,
            60,
            &["bags"],
        ),
        p(
            "EL-HP-001",
            "Wireless Headphones",
            "Over-ear headphones with active noise cancelling.",
            "electronics",
            24900,
            25,
            &["audio"],
        ),
        p(
            "EL-SPK-002",
            "Portable Speaker",
            "Water-resistant bluetooth speaker.",
            "electronics",
            7900,
            0,
            &["audio", "outdoor"],
        ),
        p("HM-MUG-001", "Stoneware Mug", "Hand-glazed stoneware mug, 350 ml.", "home", 1800, 200, &["kitchen"]),
    ]
}
