//! First start on an empty database: tenant `demo`, its admin user and sample products, so that
//! `/docs` is usable at once.

use sea_orm::DatabaseConnection;

use crate::auth::{Plan, Role, tokens};
use crate::config::Config;
use crate::error::AppError;
use crate::store::{self, products::NewProduct};

/// What the first start created; `admin_password` is set only when it was generated.
#[derive(Debug)]
pub struct FirstStart {
    pub admin_email: String,
    pub admin_password: Option<String>,
}

/// Creates the demo tenant when the database has no tenant; `None` when it already had one.
pub async fn first_start(db: &DatabaseConnection, config: &Config) -> Result<Option<FirstStart>, AppError> {
    if !store::tenants::is_empty(db).await? {
        return Ok(None);
    }
    let tenant = store::tenants::create_tenant(db, "demo", "Demo Store", Plan::Standard).await?;
    let generated = config.admin_password.is_none().then(|| tokens::opaque_secret("pw"));
    let password = config.admin_password.clone().or_else(|| generated.clone()).expect("one of them is set");
    store::tenants::create_user(db, tenant.id, &config.admin_email, &password, Role::Admin).await?;
    if config.seed_demo {
        for product in sample_products() {
            store::products::create(db, tenant.id, product, None).await?;
        }
    }
    Ok(Some(FirstStart { admin_email: config.admin_email.clone(), admin_password: generated }))
}

/// The sku prefix of generated products.
pub const SEED_SKU_PREFIX: &str = "SEED-";

/// `count` generated products numbered from `first` (`SEED-00001`, ...) across every category, for
/// load tests and demos.
pub fn generated_products(first: u64, count: u64) -> Vec<NewProduct> {
    const CATEGORIES: [&str; 5] = ["footwear", "apparel", "accessories", "electronics", "home"];
    (first..first + count)
        .map(|i| NewProduct {
            sku: format!("{SEED_SKU_PREFIX}{i:05}"),
            name: format!("Seeded product {i}"),
            description: format!("Generated product number {i}, for load tests and demos."),
            category: CATEGORIES[(i % CATEGORIES.len() as u64) as usize].into(),
            price: 100 + (i as i64 * 37) % 50_000,
            currency: "USD".into(),
            stock: 1_000_000,
            active: i % 10 != 0,
            tags: vec!["seeded".into()],
            images: vec![],
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
