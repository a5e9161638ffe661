//! `commerce`: runs the Commerce API service (the default), migrates its database, and administers
//! tenants, users and API keys without SQL.

use clap::{Args, Parser, Subcommand};
use commerce::App;
use commerce::auth::{Plan, Role, tokens};
use commerce::config::Config;
use commerce::store;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use uuid::Uuid;

/// Rust's allocations go to mimalloc (SQLite's, in C, stay with glibc's malloc). Against glibc's
/// malloc, by hand at 10,000 products over SQLite (wrk -c32, A/B twice): a cached GET +17%,
/// random GETs +29%, searches +23%, orders of random products +7%, and a lower peak RSS under those
/// loads (75 -> 72 MiB). Without transparent huge pages (`no_thp`): with them, a touched page of
/// its arena brought 2 MiB in (peak 112 MiB). See [`tune_allocators`] for its purge delay.
///
/// mimalloc 2 (the `v2` feature), not 3 (the crate's default since 0.1.49): under the bench's loads
/// in its order (10,000 products, 10 s each, by hand), mimalloc 3's arena ended at 14-29 MiB from
/// run to run of one build, and the peak RSS with it (56-71 MiB; a second thread's pages kept
/// blocks the first had freed); mimalloc 2's ended at 22-23 MiB every time (peak 57-59 MiB), as
/// fast.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: its place in mimalloc's `mi_option_t` (2 and 3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc gives freed memory back to the system 10 ms after it is freed (its purge delay, 1 ms,
/// times its arenas' multiplier), not 10 s after: a burst of searches no longer stays resident (peak RSS under the loads above 78 -> 70-73 MiB; orders 24.7k -> 22.4k/s,
/// still above glibc's 20.8k). glibc's malloc, which SQLite uses, serves large blocks from maps
/// of their own and trims its heaps past 8 MiB free ([`return_large_buffers_to_the_system`]).
///
/// [`return_large_buffers_to_the_system`]: commerce::auth::password::return_large_buffers_to_the_system
fn tune_allocators() {
    // SAFETY: sets one of mimalloc's tuning options, which it reads at each purge decision.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1) };
    commerce::auth::password::return_large_buffers_to_the_system();
}

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
        products: u64,
        /// The number of the first sku; by default the one after the tenant's highest, so a rerun
        /// adds more.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        first: Option<u64>,
        /// Skip skus the tenant already has instead of refusing the run.
        #[arg(long)]
        skip_existing: bool,
        /// Products written per transaction: a batch is written whole or not at all, and is held in
        /// memory while it is written. On PostgreSQL several batches are written at once.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        batch: u64,
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
    /// Compare two OpenAPI documents: every change, breaking, potentially breaking or compatible.
    ///
    /// Example: `commerce diff openapi/released/2.4.0.yaml openapi/commerce.yaml --format markdown`
    Diff(commerce_diff::Args),
    /// Print a shell completion script.
    ///
    /// Example: `commerce completions bash > ~/.local/share/bash-completion/completions/commerce`
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    /// List the tenants.
    List(Database),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password comes from COMMERCE_USER_PASSWORD, or is asked for.
    ///
    /// Example: `COMMERCE_USER_PASSWORD=a-long-password commerce user create --tenant acme --email ops@acme.test --role staff`
    Create(UserCreate),
    /// List a tenant's users.
    List(InTenant),
    /// Replace a user's password (from COMMERCE_USER_PASSWORD, or asked for) and end the user's sessions.
    ///
    /// Example: `commerce user set-password --tenant acme --email ops@acme.test`
    SetPassword {
        #[command(flatten)]
        user: InTenant,
        #[arg(long)]
        email: String,
        /// The password; prefer the prompt, which keeps it out of the shell history.
        #[arg(long = "password", env = "COMMERCE_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// The database and a tenant in it.
#[derive(Args)]
struct InTenant {
    #[command(flatten)]
    database: Database,
    /// The tenant's slug.
    #[arg(long)]
    tenant: String,
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
        /// Comma-separated permissions: products:read, products:write, orders:read, orders:write,
        /// customers:read, customers:write.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// Rate-limit plan: standard (1000/min) or enterprise (10000/min).
        #[arg(long, default_value = "standard", value_parser = parse_plan)]
        plan: Plan,
    },
    /// List a tenant's API keys (ids, names, scopes; never the keys), revoked ones included.
    List(InTenant),
    /// Revoke an API key by id (see `api-key list`); it stops working at once.
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
    tune_allocators();
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
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let logs = match log_format {
        "json" => logs.json().flatten_event(true).with_current_span(true).with_span_list(false).boxed(),
        _ => logs.boxed(),
    };
    let acquires = tracing_subscriber::filter::Targets::new().with_target("sqlx::pool::acquire", tracing::Level::TRACE);
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(commerce::http::metrics::PoolAcquireLayer.with_filter(acquires))
        .init();
    let result = match command {
        // Its own exit statuses: 0 passed, 1 failed, 2 unusable document or configuration.
        Command::Contract(args) => return std::process::ExitCode::from(commerce_contract::run(*args).await),
        // 0 nothing at or above --fail-on, 1 something is, 2 a document cannot be read.
        Command::Diff(args) => return std::process::ExitCode::from(commerce_diff::run(args)),
        Command::Serve(config) => serve(*config).await,
        Command::Migrate(database) => {
            store::open_database(&database.database_url).await.map(|_| eprintln!("migrations applied"))
        }
        Command::Seed { database, tenant, products, first, skip_existing, batch, admin_email, admin_password } => {
            let config = Config { admin_email, admin_password, ..Config::for_database(database.database_url) };
            let existing =
                if skip_existing { store::products::Existing::Skip } else { store::products::Existing::Refuse };
            seed(&config, &tenant, Batches { products, first, size: batch }, existing).await
        }
        Command::Tenant(command) => tenant(command).await,
        Command::User(command) => user(command).await,
        Command::ApiKey(command) => api_key(command).await,
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "commerce",
                &mut std::io::stdout(),
            );
            Ok(())
        }
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
    use commerce::bootstrap::AdminPassword;
    let email = &first.admin_email;
    // Printed on the console only: never logged, never stored in clear.
    match &first.admin_password {
        AdminPassword::Generated(password) => println!(
            "First start: created tenant `demo` with admin {email} and password {password}\n\
             (shown once; set COMMERCE_ADMIN_PASSWORD before a first start to choose it)"
        ),
        AdminPassword::Documented(password) => println!(
            "First start: created tenant `demo` with sample data and admin {email}, password {password}:\n\
             the spec's documented demo password, which Swagger UI prefills at /docs. It is served on loopback\n\
             addresses only; before serving elsewhere, change it: `commerce user set-password --tenant demo --email {email}`"
        ),
        AdminPassword::Given(_) => {
            println!("First start: created tenant `demo` with admin {email} (password from COMMERCE_ADMIN_PASSWORD)")
        }
    }
}

/// What `commerce seed` writes: `products` generated products from sku number `first` on (by
/// default after the tenant's highest), `size` per transaction.
struct Batches {
    products: u64,
    first: Option<u64>,
    size: u64,
}

async fn seed(
    config: &Config,
    tenant: &str,
    Batches { products, first, size }: Batches,
    existing: store::products::Existing,
) -> Result<(), String> {
    let db = store::open_database(&config.database_url).await?;
    // A first start creates tenant `demo` (and its admin) when the database is empty.
    if let Some(first) = commerce::bootstrap::first_start(&db, config).await.map_err(|e| e.to_string())? {
        announce(&first);
    }
    let tenant = find_tenant(&db, tenant).await?;
    let prefix = commerce::bootstrap::SEED_SKU_PREFIX;
    let first = match first {
        Some(first) => first,
        None => store::products::highest_numbered_sku(&db, tenant.id, prefix).await.map_err(|e| e.to_string())? + 1,
    };
    // Generated and written a batch at a time, each in its own transaction: a million products
    // never sit in memory at once. PostgreSQL writes several batches at once: a batch's server
    // process spends its time on the indexes and the search column, one core's worth (a million
    // products: 72 s one batch at a time, 38 s two at a time on two cores). SQLite has one writer.
    let writers = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)),
        _ => 1,
    };
    let mut batches = (first..first + products)
        .step_by(usize::try_from(size).unwrap_or(usize::MAX))
        .map(|start| (start, size.min(first + products - start)));
    let mut running = tokio::task::JoinSet::new();
    let (mut created, mut written) = (0, Vec::new());
    let mut refused: Option<(u64, u64, commerce::error::AppError)> = None;
    loop {
        // No batch starts after one was refused; those already running finish.
        while refused.is_none() && running.len() < writers {
            let Some((start, n)) = batches.next() else { break };
            let (db, tenant_id) = (db.clone(), tenant.id);
            running.spawn(async move {
                let wanted = commerce::bootstrap::generated_products(start, n);
                (start, n, store::products::create_many(&db, tenant_id, wanted, existing).await)
            });
        }
        let Some(done) = running.join_next().await else { break };
        match done.map_err(|e| e.to_string())? {
            (start, _, Ok(n)) => {
                created += n;
                written.push(start);
            }
            (start, n, Err(e)) => {
                if refused.as_ref().is_none_or(|(first_refused, ..)| start < *first_refused) {
                    refused = Some((start, n, e));
                }
            }
        }
    }
    if let Some((start, n, e)) = refused {
        let batch = format!("{prefix}{start:05} to {prefix}{:05}", start + n - 1);
        return Err(match e {
            commerce::error::AppError::Conflict { detail, .. } => {
                let (slug, later) = (&tenant.slug, written.iter().filter(|s| **s > start).count());
                let mut message = format!("{detail} in tenant {slug}: nothing of its batch ({batch}) was written");
                if later > 0 {
                    // Written beside it: continuing after the highest sku would leave this batch out.
                    message +=
                        &format!(", {created} products of other batches were; pass --skip-existing to skip such skus");
                } else {
                    message += &format!(
                        "{}; pass --skip-existing to skip such skus, or leave out --first to continue after the highest",
                        if created > 0 { format!(", {created} products before it were") } else { String::new() }
                    );
                }
                message
            }
            e => format!("{e} (batch {batch}; {created} products of other batches were written)"),
        });
    }
    store::products::analyze(&db).await.map_err(|e| e.to_string())?;
    let last = first + products.saturating_sub(1);
    println!("created {created} products in tenant {} ({prefix}{first:05} to {prefix}{last:05})", tenant.slug);
    Ok(())
}

async fn find_tenant(db: &sea_orm::DatabaseConnection, slug: &str) -> Result<store::entities::tenant::Model, String> {
    store::tenants::find_tenant(db, slug)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no tenant {slug} (see `commerce tenant list`)"))
}

fn timestamp(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Prints rows as columns aligned under their headings.
fn table<const N: usize>(headings: [&str; N], rows: Vec<[String; N]>) {
    let mut widths = headings.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headings.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

async fn tenant(command: TenantCommand) -> Result<(), String> {
    match command {
        TenantCommand::Create { database, slug, name, plan } => {
            let db = store::open_database(&database.database_url).await?;
            let tenant = store::tenants::create_tenant(&db, &slug, &name, plan).await.map_err(|e| e.to_string())?;
            println!("created tenant {} ({}) on the {} plan", tenant.slug, tenant.id, plan.as_str());
        }
        TenantCommand::List(database) => {
            let db = store::open_database(&database.database_url).await?;
            let tenants = store::tenants::list_tenants(&db).await.map_err(|e| e.to_string())?;
            let rows =
                tenants.into_iter().map(|t| [t.slug, t.name, t.plan, t.id.to_string(), timestamp(&t.created_at)]);
            table(["SLUG", "NAME", "PLAN", "ID", "CREATED"], rows.collect());
        }
    }
    Ok(())
}

/// The password given, or asked for; at least 8 characters.
fn new_password(given: Option<String>, email: &str) -> Result<String, String> {
    let password = match given {
        Some(password) => password,
        None => rpassword::prompt_password(format!("password for {email}: "))
            .map_err(|e| format!("cannot read the password (set COMMERCE_USER_PASSWORD): {e}"))?,
    };
    if password.chars().count() < 8 {
        return Err("the password must have at least 8 characters".into());
    }
    Ok(password)
}

async fn user(command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Create(args) => {
            let password = new_password(args.password, &args.email)?;
            let db = store::open_database(&args.database.database_url).await?;
            let tenant = find_tenant(&db, &args.tenant).await?;
            let user = store::tenants::create_user(&db, tenant.id, &args.email, &password, args.role)
                .await
                .map_err(|e| e.to_string())?;
            println!("created {} user {} ({}) in tenant {}", args.role.as_str(), user.email, user.id, tenant.slug);
        }
        UserCommand::List(InTenant { database, tenant }) => {
            let db = store::open_database(&database.database_url).await?;
            let tenant = find_tenant(&db, &tenant).await?;
            let users = store::tenants::list_users(&db, tenant.id).await.map_err(|e| e.to_string())?;
            let rows = users.into_iter().map(|u| [u.email, u.role, u.id.to_string(), timestamp(&u.created_at)]);
            table(["EMAIL", "ROLE", "ID", "CREATED"], rows.collect());
        }
        UserCommand::SetPassword { user: InTenant { database, tenant }, email, password } => {
            let password = new_password(password, &email)?;
            let db = store::open_database(&database.database_url).await?;
            let tenant = find_tenant(&db, &tenant).await?;
            let user = store::tenants::find_user(&db, tenant.id, &email)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user {email} in tenant {} (see `commerce user list`)", tenant.slug))?;
            let ended = store::tenants::set_password(&db, &user, &password).await.map_err(|e| e.to_string())?;
            println!("set the password of {} in tenant {}; ended {ended} session(s)", user.email, tenant.slug);
        }
    }
    Ok(())
}

async fn api_key(command: ApiKeyCommand) -> Result<(), String> {
    let database = match &command {
        ApiKeyCommand::Create { database, .. }
        | ApiKeyCommand::Revoke { database, .. }
        | ApiKeyCommand::List(InTenant { database, .. }) => database,
    };
    let db = store::open_database(&database.database_url).await?;
    match command {
        ApiKeyCommand::Create { tenant, name, scopes, plan, .. } => {
            let scopes = tokens::parse_scopes(scopes.iter().map(String::as_str))?;
            let tenant = find_tenant(&db, &tenant).await?;
            let (key, secret) = store::tenants::create_api_key(&db, tenant.id, &name, &scopes, plan)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("created API key {} ({name}) for tenant {}; it is shown once:", key.id, tenant.slug);
            println!("{secret}");
        }
        ApiKeyCommand::List(InTenant { tenant, .. }) => {
            let tenant = find_tenant(&db, &tenant).await?;
            let keys = store::tenants::list_api_keys(&db, tenant.id).await.map_err(|e| e.to_string())?;
            let rows = keys.into_iter().map(|k| {
                let scopes = k.scopes.as_array().map(|s| s.iter().filter_map(|s| s.as_str()).collect::<Vec<_>>());
                let state = k.revoked_at.map_or("live".to_string(), |at| format!("revoked {}", timestamp(&at)));
                [
                    k.id.to_string(),
                    k.name,
                    scopes.unwrap_or_default().join(","),
                    k.plan,
                    timestamp(&k.created_at),
                    state,
                ]
            });
            table(["ID", "NAME", "SCOPES", "PLAN", "CREATED", "STATE"], rows.collect());
        }
        ApiKeyCommand::Revoke { id, .. } => {
            if !store::tenants::revoke_api_key(&db, id).await.map_err(|e| e.to_string())? {
                return Err(format!("no live API key {id} (see `commerce api-key list --tenant ...`)"));
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
