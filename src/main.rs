//! `commerce`: runs the Commerce API service (the default), migrates its database, and administers
//! tenants, users and API keys without SQL.

use clap::{Args, Parser, Subcommand};
use commerce::App;
use commerce::auth::{Plan, Role, tokens};
use commerce::config::Config;
use commerce::store;
use uuid::Uuid;

/// `commerce --version`: the binary's version and the API version it serves.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (Commerce API 2.4.0)");

#[derive(Parser)]
#[command(name = "commerce", version = VERSION, about = "The Commerce API v2.4.0 service", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand, `commerce` serves with these settings.
    #[command(flatten)]
    config: Config,
}

/// The database an administrative command works on.
#[derive(Args)]
struct Database {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://commerce.db?mode=rwc")]
    database_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    ///
    /// Example: `DATABASE_URL=postgres://postgres@127.0.0.1/test commerce serve --listen 0.0.0.0:8080`
    Serve(Box<Config>),
    /// Apply pending migrations and exit.
    ///
    /// Example: `DATABASE_URL=postgres://postgres@127.0.0.1/test commerce migrate`
    Migrate(Database),
    /// Add generated demo products to a tenant (for load tests and demos).
    ///
    /// Example: `commerce seed --tenant demo --products 10000`
    Seed {
        #[command(flatten)]
        database: Database,
        /// The tenant's slug.
        #[arg(long, default_value = "demo")]
        tenant: String,
        /// How many products (skus SEED-00001, ...).
        #[arg(long, default_value_t = 1000)]
        products: usize,
        /// Email of the admin created in tenant `demo` if the database is new.
        #[arg(long, env = "COMMERCE_ADMIN_EMAIL", default_value = "admin@example.com")]
        admin_email: String,
        /// That admin's password; generated and printed once when unset.
        #[arg(long, env = "COMMERCE_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
    },
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Users of a tenant.
    #[command(subcommand)]
    User(UserCommand),
    /// Server-to-server API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
    /// Check a running deployment against its OpenAPI document (Schemathesis's checks).
    ///
    /// Example: `commerce contract --base-url http://127.0.0.1:8080 --config schemathesis.toml --report junit`
    Contract(Box<commerce_contract::Args>),
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    ///
    /// Example: `commerce tenant create --slug acme --name "Acme Inc." --plan enterprise`
    Create {
        #[command(flatten)]
        database: Database,
        /// URL-safe identifier users log in with.
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Rate-limit plan of the tenant's users: standard or enterprise.
        #[arg(long, default_value = "standard", value_parser = parse_plan)]
        plan: Plan,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password comes from COMMERCE_USER_PASSWORD, or is asked for.
    ///
    /// Example: `COMMERCE_USER_PASSWORD=... commerce user create --tenant acme --email ops@acme.test --role staff`
    Create(UserCreate),
}

#[derive(Args)]
struct UserCreate {
    #[command(flatten)]
    database: Database,
    /// The tenant's slug.
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    email: String,
    /// admin, staff or customer (a customer is linked to the customer record with its email).
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// The password; prefer the prompt, which keeps it out of the shell history.
    #[arg(long = "password", env = "COMMERCE_USER_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key; it is shown once and stored only as a digest.
    ///
    /// Example: `commerce api-key create --tenant acme --name erp --scopes products:read,orders:write`
    Create {
        #[command(flatten)]
        database: Database,
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// Comma-separated permissions, e.g. products:read,products:write,orders:read.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Rate-limit plan: standard (1000/min) or enterprise (10000/min).
        #[arg(long, default_value = "standard", value_parser = parse_plan)]
        plan: Plan,
    },
    /// Revoke an API key by id; it stops working at once.
    ///
    /// Example: `commerce api-key revoke --id 0193a5b0-7f3e-7c2a-9a41-5d2f8e6b1c01`
    Revoke {
        #[command(flatten)]
        database: Database,
        #[arg(long)]
        id: Uuid,
    },
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    s.parse()
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    commerce::auth::password::return_large_buffers_to_the_system();
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into());
    let command = cli.command.unwrap_or_else(|| Command::Serve(Box::new(cli.config)));
    let log_format = match &command {
        Command::Serve(config) => config.log_format.as_str(),
        _ => "text",
    };
    // Colours only for a terminal: a redirected log file gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match log_format {
        "json" => logs.json().flatten_event(true).with_current_span(true).with_span_list(false).init(),
        _ => logs.init(),
    }
    let result = match command {
        // Its own exit statuses: 0 passed, 1 failed, 2 unusable document or configuration.
        Command::Contract(args) => return std::process::ExitCode::from(commerce_contract::run(*args).await),
        Command::Serve(config) => serve(*config).await,
        Command::Migrate(database) => {
            store::open_database(&database.database_url).await.map(|_| eprintln!("migrations applied"))
        }
        Command::Seed { database, tenant, products, admin_email, admin_password } => {
            let config = Config { admin_email, admin_password, ..Config::for_database(database.database_url) };
            seed(&config, &tenant, products).await
        }
        Command::Tenant(command) => tenant(command).await,
        Command::User(UserCommand::Create(args)) => create_user(args).await,
        Command::ApiKey(command) => api_key(command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("commerce: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    // Bind first: a port in use must not leave a half-made first start (a database, a printed
    // password) behind.
    let listener = tokio::net::TcpListener::bind(&config.listen).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => ": another process listens there; stop it, or choose another --listen",
            std::io::ErrorKind::PermissionDenied => ": ports below 1024 need privileges; choose a higher one",
            _ => "",
        };
        format!("cannot listen on {}: {e}{hint}", config.listen)
    })?;
    let app = App::build(&config).await.map_err(|e| format!("cannot start: {e}"))?;
    if let Some(first) = &app.first_start {
        announce(first);
    }
    let (addr, server) =
        app.serve_on(listener, shutdown_signal()).map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(%addr, "serving the Commerce API; Swagger UI at http://{addr}/docs/");
    server.await.map_err(|e| e.to_string())
}

/// Tells the operator what a first start created; a generated password is shown this once.
fn announce(first: &commerce::bootstrap::FirstStart) {
    match &first.admin_password {
        // Printed once, on the console only: it is never logged or stored in clear.
        Some(password) => println!(
            "First start: created tenant `demo` with admin {} and password {password}\nSet COMMERCE_ADMIN_PASSWORD to choose it instead.",
            first.admin_email
        ),
        None => println!("First start: created tenant `demo` with admin {}", first.admin_email),
    }
}

async fn seed(config: &Config, tenant: &str, products: usize) -> Result<(), String> {
    let db = store::open_database(&config.database_url).await?;
    // A first start creates tenant `demo` (and its admin) when the database is empty.
    if let Some(first) = commerce::bootstrap::first_start(&db, config).await.map_err(|e| e.to_string())? {
        announce(&first);
    }
    let tenant = store::tenants::find_tenant(&db, tenant)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no tenant {tenant}"))?;
    let created = store::products::create_many(&db, tenant.id, commerce::bootstrap::generated_products(products))
        .await
        .map_err(|e| e.to_string())?;
    println!("created {created} products in tenant {}", tenant.slug);
    Ok(())
}

async fn tenant(TenantCommand::Create { database, slug, name, plan }: TenantCommand) -> Result<(), String> {
    let db = store::open_database(&database.database_url).await?;
    let tenant = store::tenants::create_tenant(&db, &slug, &name, plan).await.map_err(|e| e.to_string())?;
    println!("created tenant {} ({}) on the {} plan", tenant.slug, tenant.id, plan.as_str());
    Ok(())
}

async fn create_user(args: UserCreate) -> Result<(), String> {
    let password = match args.password {
        Some(password) => password,
        None => rpassword::prompt_password(format!("password for {}: ", args.email))
            .map_err(|e| format!("cannot read the password (set COMMERCE_USER_PASSWORD): {e}"))?,
    };
    if password.chars().count() < 8 {
        return Err("the password must have at least 8 characters".into());
    }
    let db = store::open_database(&args.database.database_url).await?;
    let tenant = store::tenants::find_tenant(&db, &args.tenant)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no tenant {}", args.tenant))?;
    let user = store::tenants::create_user(&db, tenant.id, &args.email, &password, args.role)
        .await
        .map_err(|e| e.to_string())?;
    println!("created {} user {} ({}) in tenant {}", args.role.as_str(), user.email, user.id, tenant.slug);
    Ok(())
}

async fn api_key(command: ApiKeyCommand) -> Result<(), String> {
    let database = match &command {
        ApiKeyCommand::Create { database, .. } | ApiKeyCommand::Revoke { database, .. } => database,
    };
    let db = store::open_database(&database.database_url).await?;
    match command {
        ApiKeyCommand::Create { tenant, name, scopes, plan, .. } => {
            let scopes = tokens::parse_scopes(scopes.iter().map(String::as_str))?;
            let tenant = store::tenants::find_tenant(&db, &tenant)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no tenant {tenant}"))?;
            let (key, secret) = store::tenants::create_api_key(&db, tenant.id, &name, &scopes, plan)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("created API key {} ({name}) for tenant {}; it is shown once:", key.id, tenant.slug);
            println!("{secret}");
        }
        ApiKeyCommand::Revoke { id, .. } => {
            if !store::tenants::revoke_api_key(&db, id).await.map_err(|e| e.to_string())? {
                return Err(format!("no live API key {id}"));
            }
            println!("revoked API key {id}");
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
