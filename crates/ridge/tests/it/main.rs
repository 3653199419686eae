//! The integration tests of `ridge`, as one binary (each extra test binary links the whole
//! workspace again).

mod aliases;
mod cli;
mod cli_tenancy;
mod cli_triggers;
mod common;
mod custom_runtime;
mod executions;
mod functions;
mod hostile;
mod jobs;
mod keystone;
mod network;
mod nodejs;
mod openstack;
mod quotas;
mod restart;
mod runtimes;
mod scaling;
mod tenancy;
mod versions;
mod wasm;
mod webhooks;
