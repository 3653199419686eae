//! JSON rendered as Python's `json.dumps` renders it (`", "` and `": "` separators), because
//! Qinling returns several fields (`result`, `input`, list-item `code`) as JSON-encoded strings
//! and clients compare them.

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};
use std::io;

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// `json.dumps(value)` as Python writes it.
pub fn python_dumps<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = Serializer::with_formatter(&mut out, PythonFormatter);
    // Serializing plain data into a Vec cannot fail: there is no IO error and no map with
    // non-string keys among Ridge's types.
    value
        .serialize(&mut ser)
        .expect("serializing JSON data into memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_separators() {
        let v = json!({"duration": 0.044, "output": ["a", {"b": null}]});
        assert_eq!(
            python_dumps(&v),
            r#"{"duration": 0.044, "output": ["a", {"b": null}]}"#
        );
    }
}
