//! The contract tester proven on documents and deployments written here in the shapes real APIs
//! take: a corpus of documents loaded with `--dry-run` (`corpus.rs`), and targets that record what
//! they receive, so the tests assert the wire, not the tester's own view of it (`wire.rs`,
//! `false_greens.rs`).

mod auth_probes;
mod corpus;
mod false_greens;
mod methods;
mod negative;
mod stateful;
mod support;
mod tls;
mod wire;
mod zoo;
