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

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{Endpoint, Server};

use crate::api::Handlers;
use crate::auth::tokens::JwtKeys;
use crate::config::Config;
use crate::error::AppError;
use crate::spec::ApiDocument;

/// A service ready to serve: connected, migrated, bootstrapped.
pub struct App {
    pub handlers: Arc<Handlers>,
    pub first_start: Option<bootstrap::FirstStart>,
    body_limit: http::BodyLimit,
    timeout: http::RequestTimeout,
}

impl App {
    /// Connects to the configured database, migrates it, and on an empty one creates the demo tenant.
    pub async fn build(config: &Config) -> Result<Self, AppError> {
        let db = store::connect(&config.database_url).await?;
        let secret = store::tenants::jwt_secret(&db, config.jwt_secret.as_deref()).await?;
        let first_start = bootstrap::first_start(&db, config).await?;
        let limits = ratelimit::RateLimits::new(config.rate_limit_standard, config.rate_limit_enterprise);
        let handlers = Arc::new(Handlers {
            orders: store::desk::OrderDesk::start(db.clone(), &config.database_url),
            db,
            keys: JwtKeys::new(&secret),
            spec: Arc::new(ApiDocument::load()),
            limits: Arc::new(limits),
            metrics: Arc::default(),
            revocations: Arc::default(),
            products: Arc::default(),
        });
        handlers.revocations.reload(&handlers.db).await?;
        Ok(Self {
            handlers,
            first_start,
            body_limit: http::BodyLimit(config.max_body_bytes),
            timeout: http::RequestTimeout(std::time::Duration::from_millis(config.request_timeout_ms)),
        })
    }

    /// Every route of the service.
    pub fn endpoint(&self) -> impl Endpoint + use<> {
        http::routes(self.handlers.clone(), self.body_limit, self.timeout)
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
        let acceptor = TcpListener::bind(listen.to_string()).into_acceptor().await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| std::io::Error::other("the listener has no socket address"))?;
        let endpoint = wrap(poem::EndpointExt::boxed(poem::EndpointExt::map_to_response(self.endpoint())));
        // Idle principals' rate-limit state is dropped once a minute; the task ends with the runtime.
        let limits = self.handlers.limits.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                limits.forget_idle();
            }
        });
        // Other instances' logouts reach this one within the reload interval.
        let (revocations, db) = (self.handlers.revocations.clone(), self.handlers.db.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(auth::revocations::RELOAD_INTERVAL);
            loop {
                tick.tick().await;
                if let Err(e) = revocations.reload(&db).await {
                    tracing::warn!(error = %e, "cannot reload the revoked access tokens; keeping the last set");
                }
            }
        });
        let server = Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            endpoint,
            shutdown,
            Some(std::time::Duration::from_secs(30)),
        );
        Ok((addr, server))
    }
}
