//! The baseline `cargo xtask bench` compares the service with: a bare poem route that serves a static
//! JSON body, with the same runtime and server stack, and no auth, database or validation.
//!
//! Usage: `bare_route <listen address> <file with a JSON body>...`; the n-th file (from 0) is served
//! at `/static/<n>`. Prints `listening on <addr>`.

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, IntoResponse, Route, Server, get};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, bodies @ ..] = args.as_slice() else {
        return Err(std::io::Error::other("usage: bare_route <listen address> <body file>..."));
    };
    if bodies.is_empty() {
        return Err(std::io::Error::other("usage: bare_route <listen address> <body file>..."));
    }
    let mut route = Route::new();
    for (n, file) in bodies.iter().enumerate() {
        let body: &'static [u8] = Vec::leak(std::fs::read(file)?);
        let endpoint = poem::endpoint::make_sync(move |_| body.with_content_type("application/json"));
        route = route.at(format!("/static/{n}"), get(endpoint));
    }
    let acceptor = TcpListener::bind(listen).into_acceptor().await?;
    let addr = acceptor.local_addr()[0].clone();
    println!("listening on {addr}");
    Server::new_with_acceptor(acceptor).run(route.map_to_response()).await
}
