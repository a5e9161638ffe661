//! `commerce`: runs the Commerce API service (the default), or migrates its database.

use clap::{Parser, Subcommand};
use commerce::App;
use commerce::config::Config;

#[derive(Parser)]
#[command(name = "commerce", version, about = "The Commerce API v2.4.0 service")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    ///
    /// Example: `DATABASE_URL=postgres://postgres@127.0.0.1/test commerce serve --listen 0.0.0.0:8080`
    Serve,
    /// Apply pending migrations and exit.
    ///
    /// Example: `DATABASE_URL=postgres://postgres@127.0.0.1/test commerce migrate`
    Migrate,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Migrate => commerce::store::connect(&cli.config.database_url)
            .await
            .map(|_| tracing::info!("migrations applied"))
            .map_err(|e| e.to_string()),
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
    let app = App::build(&config).await.map_err(|e| format!("cannot start: {e}"))?;
    if let Some(first) = &app.first_start {
        match &first.admin_password {
            // Printed once, on the console only: it is never logged or stored in clear.
            Some(password) => println!(
                "First start: created tenant `demo` with admin {} and password {password}\nSet COMMERCE_ADMIN_PASSWORD to choose it instead.",
                first.admin_email
            ),
            None => println!("First start: created tenant `demo` with admin {}", first.admin_email),
        }
    }
    let (addr, server) = app
        .bind(&config.listen, shutdown_signal())
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(%addr, "serving the Commerce API; Swagger UI at http://{addr}/docs/");
    server.await.map_err(|e| e.to_string())
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
