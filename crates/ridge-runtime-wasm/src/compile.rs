//! What compiling an untrusted module may cost, bounded before wasmtime sees it.
//!
//! Compile time and memory grow with the size of the code, and above all with the size of its
//! largest function (cranelift compiles a function as a whole). So a module is refused, with a
//! message naming the limit, when its file is larger than [`crate::WasmConfig::max_module_size`]
//! (checked before it is read) or when one function's body is larger than
//! [`MAX_FUNCTION_SIZE`]. Within those, each compile runs on one thread (no parallel
//! compilation, see `host.rs`) and only a few run at once ([`crate::host::Host::compiles`]),
//! so compiling modules never takes every core from the server.

use wasmparser::{Parser, Payload};

use crate::WasmError;

/// The largest function body a module may have, in bytes. Compilers emit far smaller ones; a
/// giant one is how a module makes compiling it slow.
pub const MAX_FUNCTION_SIZE: usize = 1024 * 1024;

/// Checks the module's functions against [`MAX_FUNCTION_SIZE`]. A module that does not parse is
/// left to wasmtime, whose validation explains what is wrong.
pub(crate) fn check_functions(module: &str, bytes: &[u8]) -> Result<(), WasmError> {
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            return Ok(());
        };
        if let Payload::CodeSectionEntry(body) = payload {
            let size = body.range().len();
            if size > MAX_FUNCTION_SIZE {
                return Err(WasmError::FunctionTooLarge {
                    module: module.to_owned(),
                    size,
                    limit: MAX_FUNCTION_SIZE,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with_function_of(nops: usize) -> Vec<u8> {
        let body = "nop ".repeat(nops);
        wat::parse_str(format!("(module (func (export \"_start\") {body}))"))
            .expect("a valid module")
    }

    #[test]
    fn a_function_past_the_limit_is_refused_and_one_within_it_passes() {
        let small = module_with_function_of(1000);
        check_functions("small.wasm", &small).expect("within the limit");
        let huge = module_with_function_of(MAX_FUNCTION_SIZE + 1);
        let err = check_functions("huge.wasm", &huge).expect_err("past the limit");
        assert!(err.is_function_fault());
        let message = err.to_string();
        assert!(
            message.contains("huge.wasm") && message.contains(&MAX_FUNCTION_SIZE.to_string()),
            "{message}"
        );
        check_functions("junk.wasm", b"not a module").expect("left to wasmtime");
    }
}
