//! The baseline `cargo xtask bench` compares the service with: a bare poem route that serves a static
//! JSON body, with the same runtime and server stack, and no auth, database or validation.
//!
//! Usage: `bare_route <listen address> <file with the JSON body>`; prints `listening on <addr>`.

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, IntoResponse, Route, Server, get};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (listen, body_file) = match args.as_slice() {
        [_, listen, body] => (listen.clone(), body.clone()),
        _ => return Err(std::io::Error::other("usage: bare_route <listen address> <body file>")),
    };
    let body: &'static [u8] = Vec::leak(std::fs::read(body_file)?);
    let route =
        Route::new().at("/static", get(poem::endpoint::make_sync(move |_| body.with_content_type("application/json"))));
    let acceptor = TcpListener::bind(listen).into_acceptor().await?;
    let addr = acceptor.local_addr()[0].clone();
    println!("listening on {addr}");
    Server::new_with_acceptor(acceptor).run(route.map_to_response()).await
}
