//! Integration tests over HTTP: one binary, one file per tag of the spec.

mod contract;
mod helpers;

mod abuse;
mod auth;
mod cli;
mod connections;
mod contract_tester;
mod cors;
mod customers;
mod demo;
mod diff;
mod docs;
mod drift;
mod durability;
mod fixtures;
mod instances;
mod limits;
mod orders;
mod products;
mod readme;
mod representative;
mod startup;
mod statuses;
