//! The server assembly behind `ridge serve`: settings, and the one place that picks the
//! implementations (SQLite store, local or S3 package store, local sandboxed workers) and wires them
//! into the engine and the API. The `ridge` binary adds the command-line client on top.

pub mod config;
pub mod doctor;
pub mod events;
mod listener;
pub mod nodes;
pub mod packages;
pub mod retention;
pub mod serve;
pub mod tenancy;
pub mod tls;
pub mod triggers;
pub mod wasm;
