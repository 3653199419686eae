//! The integration tests of `ridge-package`, as one binary (each extra test binary links the whole
//! workspace again).

mod backends;
mod common;
mod s3;
mod store;
mod tmpfs;
mod unpack;
