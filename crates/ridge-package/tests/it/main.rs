//! The integration tests of `ridge-package`, as one binary (each extra test binary links the whole
//! workspace again).

mod common;
mod store;
mod unpack;
