//! Scenario 8: WebAssembly and Node.js variants of scenarios 1 and 3, once those runtimes exist.

use super::Outcome;
use crate::report::Status;

pub fn run() -> Outcome {
    Outcome {
        status: Status::Skipped(
            "Ridge has no Node.js or WebAssembly runtime yet (issue 8); add their variants of \
             scenarios 1 and 3 here when it does"
                .to_owned(),
        ),
        rows: Vec::new(),
        notes: Vec::new(),
    }
}
