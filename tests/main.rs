//! The one integration-test binary: every end-to-end test is a module here,
//! as ripgrep keeps them. One binary links wasmtime, Cranelift, SQLite and
//! tokio once instead of once per test file, which was most of a cold CI
//! run's link time; `cargo test --test integration MODULE::` runs one module.
//!
//! Tests that share a real server keep out of each other's way by their own
//! means (a database per test, the statement statistics of their own
//! database only, ports picked free); `support` has the shared helpers.

mod support;

mod access_logs;
mod actions;
mod architecture;
mod audit;
mod cli;
mod contract;
mod databases;
mod db_index;
mod digest;
mod exposition;
mod hook_params;
mod pins;
mod plugin_authoring;
mod private_files;
mod probe;
mod prometheus;
mod rules;
mod sandbox;
mod system_source;
