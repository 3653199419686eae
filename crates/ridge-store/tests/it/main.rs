//! The integration tests of `ridge-store`, as one binary (each extra test binary links the whole
//! workspace again).

mod conformance;
mod copy;
mod postgres;
mod sqlite;
