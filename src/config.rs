//! Service configuration: flags and `COMMERCE_*` environment variables (`DATABASE_URL` for the
//! database), with defaults that run on an embedded SQLite file and no setup.

use clap::Args;

/// How the service runs. Every field is a flag and an environment variable.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Database URL: `sqlite://FILE?mode=rwc` (created on first start) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://commerce.db?mode=rwc")]
    pub database_url: String,

    /// Address to listen on.
    #[arg(long, env = "COMMERCE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Secret that signs access tokens (HS256). By default a random secret is generated on first
    /// start and kept in the database, so every instance over that database shares it.
    #[arg(long, env = "COMMERCE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Email of the admin user created in tenant `demo` on first start.
    #[arg(long, env = "COMMERCE_ADMIN_EMAIL", default_value = "admin@example.com")]
    pub admin_email: String,

    /// Password of that admin user; when unset, one is generated and printed once.
    #[arg(long, env = "COMMERCE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Requests per minute for each API key and user on the standard plan.
    #[arg(long, env = "COMMERCE_RATE_LIMIT_STANDARD", default_value_t = 1000)]
    pub rate_limit_standard: u32,

    /// Requests per minute for each API key and user on the enterprise plan.
    #[arg(long, env = "COMMERCE_RATE_LIMIT_ENTERPRISE", default_value_t = 10000)]
    pub rate_limit_enterprise: u32,

    /// Largest request body accepted, in bytes; larger ones answer 413.
    #[arg(long, env = "COMMERCE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest a request may take, in milliseconds; slower ones are abandoned with a 503 problem.
    #[arg(long, env = "COMMERCE_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Log lines as human-readable `text` or as `json` objects (one per line, for log shippers).
    #[arg(long, env = "COMMERCE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Create the sample products of tenant `demo` on first start.
    #[arg(long, env = "COMMERCE_SEED_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_demo: bool,
}

impl Config {
    /// The defaults, with another database: what tests start from.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            listen: "127.0.0.1:0".into(),
            jwt_secret: None,
            admin_email: "admin@example.com".into(),
            admin_password: None,
            rate_limit_standard: 1000,
            rate_limit_enterprise: 10000,
            max_body_bytes: 1024 * 1024,
            request_timeout_ms: 30_000,
            log_format: "text".into(),
            seed_demo: true,
        }
    }
}
