//! The integration tests of `ridge-api`, as one binary: the API through its router, with a real
//! SQLite store and package store in a temporary directory and stand-in workers (see
//! `harness.rs`). What needs real workers, processes, restarts of a process or the CLI is tested
//! end to end in `crates/ridge/tests`.

mod alerts;
mod aliases;
mod dashboard;
mod event_triggers;
mod executions;
mod functions;
mod harness;
mod info;
mod jobs;
mod openapi;
mod packages;
mod quotas;
mod runtimes;
mod tenancy;
mod versions;
mod webhook_secrets;
mod webhooks;
mod workers;
