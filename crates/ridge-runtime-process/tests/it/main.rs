//! The integration tests of `ridge-runtime-process`, as one binary (each extra test binary links
//! the whole workspace again).

mod python;
mod replies;
mod strays;
