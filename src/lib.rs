//! The Commerce API service: the handlers of the generated API over sea-orm, and what serves them.
//! See ARCHITECTURE.md for the map.

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod error;
pub mod http;
pub mod ratelimit;
pub mod spec;
pub mod store;

use std::sync::Arc;

use poem::Endpoint;

use crate::api::Handlers;
use crate::auth::tokens::JwtKeys;
use crate::config::Config;
use crate::spec::ApiDocument;

/// A service ready to serve: connected, migrated, bootstrapped.
pub struct App {
    pub handlers: Arc<Handlers>,
    pub first_start: Option<bootstrap::FirstStart>,
    body_limit: http::BodyLimit,
    timeout: http::RequestTimeout,
    trust_forwarded_for: bool,
    cors_allow_origins: Vec<String>,
    connections: http::server::Limits,
}

impl App {
    /// Connects to the configured database, migrates it, and on an empty one creates the demo tenant.
    ///
    /// Errors name their cause and, where there is one, the remedy.
    pub async fn build(config: &Config) -> Result<Self, String> {
        let db = store::open_database(&config.database_url).await?;
        let secret = store::tenants::jwt_secret(&db, config.jwt_secret.as_deref()).await.map_err(|e| e.to_string())?;
        let first_start = bootstrap::first_start(&db, config).await.map_err(|e| e.to_string())?;
        bootstrap::refuse_documented_password(&db, &config.listen).await?;
        if first_start.is_none() && config.admin_password.is_some() {
            tracing::warn!(
                "COMMERCE_ADMIN_PASSWORD is set, but the database already has its tenants and users: it is used only \
                 by a first start on an empty database (change a password with `commerce user set-password`)"
            );
        }
        let limits = ratelimit::RateLimits::new(config.rate_limit_standard, config.rate_limit_enterprise);
        let metrics = Arc::new(http::metrics::Metrics::default());
        let log_gate = Arc::new(store::checkpoints::LogGate::default());
        let handlers = Arc::new(Handlers {
            orders: store::desk::OrderDesk::start(
                db.clone(),
                &config.database_url,
                metrics.desk_batch_sizes.clone(),
                log_gate.clone(),
            ),
            reads: store::reads::Reads::new(db.clone(), &config.database_url, config.search_index_bytes()),
            checkpoints: store::reads::sqlite_file(&config.database_url)
                .and_then(|path| store::checkpoints::Checkpointer::start(path, log_gate)),
            db,
            keys: JwtKeys::new(&secret),
            spec: Arc::new(ApiDocument::load()),
            limits: Arc::new(limits),
            products: Arc::new(api::cache::ProductCache::counting(metrics.cache.clone())),
            metrics,
            revocations: Arc::default(),
            api_keys: Arc::default(),
            idempotency_lease: std::time::Duration::from_millis(config.request_timeout_ms)
                + std::time::Duration::from_secs(2),
            failed_auth: Arc::new(ratelimit::FailedAuth::new(config.rate_limit_unauthenticated)),
            login_max_failures: config.login_max_failures,
        });
        handlers.revocations.reload(&handlers.db).await.map_err(|e| e.to_string())?;
        handlers.api_keys.reload(&handlers.db).await.map_err(|e| e.to_string())?;
        Ok(Self {
            handlers,
            first_start,
            body_limit: http::BodyLimit(config.max_body_bytes),
            timeout: http::RequestTimeout(std::time::Duration::from_millis(config.request_timeout_ms)),
            trust_forwarded_for: config.trust_forwarded_for,
            cors_allow_origins: config.cors_allow_origins.clone(),
            connections: http::server::Limits {
                header_read_timeout: std::time::Duration::from_millis(config.header_read_timeout_ms),
                idle_timeout: std::time::Duration::from_millis(config.idle_timeout_ms),
                max_connections: config.max_connections as usize,
            },
        })
    }

    /// Every route of the service.
    pub fn endpoint(&self) -> impl Endpoint + use<> {
        http::routes(
            self.handlers.clone(),
            self.body_limit,
            self.timeout,
            self.trust_forwarded_for,
            self.cors_allow_origins.clone(),
        )
    }

    /// Binds `listen` (port 0 picks a free port) and returns the bound address and the server future,
    /// which runs until `shutdown` resolves and then lets in-flight requests finish.
    pub async fn bind(
        self,
        listen: &str,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<(std::net::SocketAddr, impl Future<Output = std::io::Result<()>>)> {
        self.bind_wrapped(listen, shutdown, |endpoint| endpoint).await
    }

    /// [`Self::bind`] serving `wrap(endpoint)`: middleware around every route (tests use it to start
    /// deliberately broken variants of the service).
    pub async fn bind_wrapped<E: Endpoint + 'static>(
        self,
        listen: &str,
        shutdown: impl Future<Output = ()> + Send + 'static,
        wrap: impl FnOnce(poem::endpoint::BoxEndpoint<'static>) -> E + 'static,
    ) -> std::io::Result<(std::net::SocketAddr, impl Future<Output = std::io::Result<()>>)> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        self.serve_wrapped(listener, shutdown, wrap)
    }

    /// Serves on a listener bound beforehand (a process binds before its first-start setup, so that a
    /// port in use leaves nothing half made).
    pub fn serve_on(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<(std::net::SocketAddr, impl Future<Output = std::io::Result<()>>)> {
        self.serve_wrapped(listener, shutdown, |endpoint| endpoint)
    }

    fn serve_wrapped<E: Endpoint + 'static>(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        wrap: impl FnOnce(poem::endpoint::BoxEndpoint<'static>) -> E + 'static,
    ) -> std::io::Result<(std::net::SocketAddr, impl Future<Output = std::io::Result<()>>)> {
        let addr = listener.local_addr()?;
        let endpoint = wrap(poem::EndpointExt::boxed(poem::EndpointExt::map_to_response(self.endpoint())));
        let endpoint = poem::EndpointExt::boxed(poem::EndpointExt::map_to_response(endpoint));
        // Idle principals' rate-limit state is dropped once a minute; the task ends with the runtime.
        let (limits, failed_auth) = (self.handlers.limits.clone(), self.handlers.failed_auth.clone());
        let db = self.handlers.db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.forget_idle();
                failed_auth.forget_idle();
                if let Err(e) = store::throttles::forget_expired(&db).await {
                    tracing::warn!(error = %e, "cannot forget expired login throttles");
                }
            }
        });
        // Other instances' logouts, and API keys revoked anywhere, reach this one within the reload
        // interval.
        // And the product cache drops what expired.
        let (revocations, api_keys, db) =
            (self.handlers.revocations.clone(), self.handlers.api_keys.clone(), self.handlers.db.clone());
        let products = self.handlers.products.clone();
        // The search index loads, then follows what other instances write.
        if let Some(words) = self.handlers.reads.words.clone() {
            let reads = self.handlers.reads.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    if let Err(e) = words.follow(&reads).await {
                        tracing::warn!(error = %e, "cannot follow the catalogue's changes into the search index");
                    }
                }
            });
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(auth::revocations::RELOAD_INTERVAL);
            loop {
                tick.tick().await;
                products.sweep();
                if let Err(e) = revocations.reload(&db).await {
                    tracing::warn!(error = %e, "cannot reload the revoked access tokens; keeping the last set");
                }
                if let Err(e) = api_keys.reload(&db).await {
                    tracing::warn!(error = %e, "cannot reload the live API keys; keeping the last set");
                }
            }
        });
        let server = http::server::serve(listener, endpoint, shutdown, self.connections);
        Ok((addr, server))
    }
}
