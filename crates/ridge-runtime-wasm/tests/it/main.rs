//! The integration tests of `ridge-runtime-wasm`, as one binary (each extra test binary links the whole
//! workspace again).

mod wasm;
