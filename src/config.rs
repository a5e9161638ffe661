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
    #[arg(long, env = "COMMERCE_LISTEN", default_value = "127.0.0.1:8080", value_parser = listen_address)]
    pub listen: String,

    /// Secret that signs access tokens (HS256), at least 32 bytes. By default a random secret is
    /// generated on first start and kept in the database, so every instance over that database
    /// shares it.
    #[arg(long, env = "COMMERCE_JWT_SECRET", hide_env_values = true, value_parser = jwt_secret)]
    pub jwt_secret: Option<String>,

    /// Email of the admin user created in tenant `demo` on first start.
    #[arg(long, env = "COMMERCE_ADMIN_EMAIL", default_value = "admin@example.com")]
    pub admin_email: String,

    /// Password of that admin user; when unset, one is generated and printed once.
    #[arg(long, env = "COMMERCE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Requests per minute for each API key and user on the standard plan.
    #[arg(long, env = "COMMERCE_RATE_LIMIT_STANDARD", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_standard: u32,

    /// Requests per minute for each API key and user on the enterprise plan.
    #[arg(long, env = "COMMERCE_RATE_LIMIT_ENTERPRISE", default_value_t = 10000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_enterprise: u32,

    /// Largest request body accepted, in bytes; larger ones answer 413.
    #[arg(long, env = "COMMERCE_MAX_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = at_least_one_byte)]
    pub max_body_bytes: usize,

    /// Longest a request may take, in milliseconds; slower ones are abandoned with a 503 problem.
    #[arg(long, env = "COMMERCE_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Log lines as human-readable `text` or as `json` objects (one per line, for log shippers).
    #[arg(long, env = "COMMERCE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Create the sample products of tenant `demo` on first start.
    #[arg(long, env = "COMMERCE_SEED_DEMO", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed_demo: bool,

    /// Failed logins allowed per account from one client address in 15 minutes before that
    /// address is refused (429) for the account, for a time that doubles with each further failure
    /// (1 to 15 minutes). An address trying many accounts is refused after 6 times as many; an
    /// account failing from many addresses after 20 times as many, for one minute.
    #[arg(long, env = "COMMERCE_LOGIN_MAX_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub login_max_failures: u32,

    /// Requests per minute from one client address that may fail authentication (401) before its
    /// further requests are refused with 429 for the rest of the minute.
    #[arg(long, env = "COMMERCE_RATE_LIMIT_UNAUTHENTICATED", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_unauthenticated: u32,

    /// Read the client address from the first entry of `X-Forwarded-For` (set this only behind a
    /// proxy that writes that header; otherwise clients could choose their own address).
    #[arg(long, env = "COMMERCE_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,

    /// Longest wait for a request's head (request line and headers), in milliseconds, counted from
    /// its first byte; a slower client's connection is closed.
    #[arg(long, env = "COMMERCE_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// A connection with no request in progress and no traffic for this long (milliseconds) is
    /// closed. Longer than a typical load balancer's 60 s, so the balancer closes first.
    #[arg(long, env = "COMMERCE_IDLE_TIMEOUT_MS", default_value_t = 75_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_ms: u64,

    /// Connections served at once; further ones wait in the listen queue until one closes.
    #[arg(long, env = "COMMERCE_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// A browser origin (`https://shop.example.com`) whose pages may call the API (CORS);
    /// repeatable, or comma-separated in the environment; `*` for every origin. None by default.
    #[arg(long = "cors-allow-origin", env = "COMMERCE_CORS_ALLOW_ORIGINS", value_delimiter = ',', value_parser = crate::http::cors::parse_origin)]
    pub cors_allow_origins: Vec<String>,

    /// Memory (MiB) for the catalogue's search words, so that a search without `sort` is answered
    /// in memory (its page's products read by id); a catalogue whose words do not fit (about
    /// 14,000 products of a name and a sentence a MiB) is searched in the database. 0: always in
    /// the database. By default 96 on PostgreSQL (a million products fit), 32 on SQLite, whose own
    /// search index is read within this process (a million products searched in FTS5: p99 9-18 ms
    /// in the bench) and whose file's map already holds the catalogue in its memory.
    #[arg(long, env = "COMMERCE_SEARCH_INDEX_MIB")]
    pub search_index_mib: Option<u64>,
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
            login_max_failures: 5,
            rate_limit_unauthenticated: 120,
            trust_forwarded_for: false,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 75_000,
            max_connections: 1024,
            cors_allow_origins: Vec::new(),
            search_index_mib: None,
        }
    }

    /// The search index's budget in bytes: as set, or its default for the database.
    pub fn search_index_bytes(&self) -> usize {
        let postgres = self.database_url.starts_with("postgres");
        let mib = self.search_index_mib.unwrap_or(if postgres { 96 } else { 32 });
        usize::try_from(mib).unwrap_or(usize::MAX).saturating_mul(1 << 20)
    }
}

/// A JWT secret of at least 32 bytes (RFC 7518 §3.2: an HS256 key at least as long as the hash).
fn jwt_secret(text: &str) -> Result<String, String> {
    if text.len() < 32 {
        return Err(format!(
            "the JWT secret has {} bytes; HS256 needs at least 32 (for example `openssl rand -base64 48`)",
            text.len()
        ));
    }
    Ok(text.to_string())
}

/// `--listen`: HOST:PORT (a name, an IPv4 address, or an IPv6 one in brackets).
fn listen_address(text: &str) -> Result<String, String> {
    let hint = "expected HOST:PORT, e.g. 127.0.0.1:8080 (every interface: 0.0.0.0:8080; IPv6: [::1]:8080)";
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(text.to_string()),
        _ => Err(hint.to_string()),
    }
}

/// `--max-body-bytes`: at least one byte.
fn at_least_one_byte(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
