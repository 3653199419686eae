//! A typed async HTTP client for Ridge's API (the Qinling v1 API plus Ridge's additions), over
//! the wire types of `ridge_core::api`. The `ridge` CLI and the integration tests use it; nothing
//! else in Ridge talks HTTP to a server.
//!
//! It owns URL building, request encoding (JSON bodies, and the multipart uploads that
//! python-qinlingclient sends for functions) and turning error responses into
//! [`ClientError::Api`] with the server's `faultstring`. It deliberately does not resolve names,
//! build zip packages, print, retry or speak TLS: those are the caller's business.

mod client;
mod error;
mod upload;

pub use client::RidgeClient;
pub use error::ClientError;
pub use upload::{FunctionUpdate, FunctionUpload, md5_hex};
