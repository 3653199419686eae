//! The integration tests of `ridge-store`, as one binary (each extra test binary links the whole
//! workspace again).

mod conformance;
mod postgres;
mod sqlite;
