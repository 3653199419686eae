//! The integration tests of `ridge`, as one binary (each extra test binary links the whole
//! workspace again).

mod cli;
mod cli_tenancy;
mod cli_triggers;
mod common;
mod custom_runtime;
mod dashboard;
mod deb;
mod events;
mod executions;
mod hostile;
mod hostile_host;
mod hostile_output;
mod jobs;
mod keystone;
mod kubernetes;
mod network;
mod nodejs;
mod nodes;
mod openstack;
mod packages_s3;
mod postgres;
mod prestart;
mod prestart_node;
mod restart;
mod retention;
mod sandbox_off;
mod scaling;
mod store_copy;
mod timeouts;
mod tls;
mod wasm;
mod zygote;
