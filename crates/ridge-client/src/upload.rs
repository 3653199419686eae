//! Function uploads: the multipart/form-data bodies of `POST /v1/functions` and
//! `PUT /v1/functions/{id}`, shaped as python-qinlingclient sends them: text fields for what is
//! set, `code` as a JSON string, and the zip in a file part named `package`.

use bytes::Bytes;
use md5::{Digest, Md5};
use reqwest::multipart::{Form, Part};
use serde_json::json;

/// The file name given to the `package` part (the server reads the bytes, not the name).
const PACKAGE_FILE_NAME: &str = "package.zip";

/// `POST /v1/functions` for a package function. Unset fields are not sent, so the server's
/// defaults apply (`entry` `main.main`, `cpu` 100, `memory_size` 32 MiB, `timeout` 5).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionUpload {
    pub name: Option<String>,
    pub description: Option<String>,
    pub runtime_id: Option<String>,
    pub entry: Option<String>,
    pub cpu: Option<u64>,
    pub memory_size: Option<u64>,
    pub timeout: Option<u64>,
    /// The zip package. `code` carries its md5 so the server can check the transfer; without a
    /// package the server refuses the call.
    pub package: Option<Bytes>,
}

/// `PUT /v1/functions/{id}`: only the fields that are set change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub entry: Option<String>,
    pub cpu: Option<u64>,
    pub memory_size: Option<u64>,
    pub timeout: Option<u64>,
    /// A new zip package; sent with `code` = `{"source":"package","md5sum":...}`.
    pub package: Option<Bytes>,
}

/// The lower-case hex MD5 of `data`, as Qinling stores it in `code.md5sum`.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// The `code` form field of a package function: a JSON-encoded string.
pub(crate) fn package_code(package: Option<&Bytes>) -> String {
    match package {
        Some(p) => json!({"source": "package", "md5sum": md5_hex(p)}).to_string(),
        None => json!({"source": "package"}).to_string(),
    }
}

impl FunctionUpload {
    /// The text fields, in the order they are sent.
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        push(&mut fields, "runtime_id", self.runtime_id.clone());
        fields.push(("code", package_code(self.package.as_ref())));
        push(&mut fields, "name", self.name.clone());
        push(&mut fields, "description", self.description.clone());
        push(&mut fields, "entry", self.entry.clone());
        push(&mut fields, "cpu", self.cpu);
        push(&mut fields, "memory_size", self.memory_size);
        push(&mut fields, "timeout", self.timeout);
        fields
    }

    pub(crate) fn form(&self) -> Form {
        form(self.fields(), self.package.as_ref())
    }
}

impl FunctionUpdate {
    /// The text fields, in the order they are sent. `code` only goes with a new package.
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        if self.package.is_some() {
            fields.push(("code", package_code(self.package.as_ref())));
        }
        push(&mut fields, "name", self.name.clone());
        push(&mut fields, "description", self.description.clone());
        push(&mut fields, "entry", self.entry.clone());
        push(&mut fields, "cpu", self.cpu);
        push(&mut fields, "memory_size", self.memory_size);
        push(&mut fields, "timeout", self.timeout);
        fields
    }

    pub(crate) fn form(&self) -> Form {
        form(self.fields(), self.package.as_ref())
    }
}

fn push<T: ToString>(fields: &mut Vec<(&'static str, String)>, name: &'static str, v: Option<T>) {
    if let Some(v) = v {
        fields.push((name, v.to_string()));
    }
}

fn form(fields: Vec<(&'static str, String)>, package: Option<&Bytes>) -> Form {
    let mut form = Form::new();
    for (name, value) in fields {
        form = form.text(name, value);
    }
    if let Some(package) = package {
        let part = Part::stream_with_length(package.clone(), package.len() as u64)
            .file_name(PACKAGE_FILE_NAME);
        form = form.part("package", part);
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_is_lower_case_hex() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn code_is_a_json_string_with_the_package_md5() {
        let code = package_code(Some(&Bytes::from_static(b"hello")));
        let v: serde_json::Value = serde_json::from_str(&code).expect("code is JSON");
        assert_eq!(
            v,
            json!({"source": "package", "md5sum": "5d41402abc4b2a76b9719d911017c592"})
        );
        assert_eq!(
            package_code(None),
            r#"{"source":"package"}"#,
            "without a package there is no md5 to send"
        );
    }

    #[test]
    fn create_sends_only_the_fields_that_are_set() {
        let upload = FunctionUpload {
            name: Some("hello".into()),
            runtime_id: Some("rt".into()),
            cpu: Some(200),
            package: Some(Bytes::from_static(b"hello")),
            ..Default::default()
        };
        let fields = upload.fields();
        let names: Vec<_> = fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["runtime_id", "code", "name", "cpu"]);
        assert_eq!(fields[3].1, "200");
        assert!(fields[1].1.contains("5d41402abc4b2a76b9719d911017c592"));
    }

    #[test]
    fn update_sends_code_only_with_a_package() {
        let update = FunctionUpdate {
            description: Some("d".into()),
            timeout: Some(30),
            ..Default::default()
        };
        let names: Vec<_> = update.fields().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["description", "timeout"]);

        let update = FunctionUpdate {
            package: Some(Bytes::from_static(b"zip")),
            ..Default::default()
        };
        let fields = update.fields();
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].0, "code");
        assert!(fields[0].1.contains(&md5_hex(b"zip")));
    }
}
