//! The integration tests of `ridge-engine`, as one binary (each extra test binary links the whole
//! workspace again).

mod jobs;
