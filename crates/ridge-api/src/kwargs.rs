//! Qinling's "pecan" request style for `POST/PUT /v1/functions`: parameters are free keyword
//! arguments merged from the query string, form fields (urlencoded or multipart) and a JSON
//! object body; the package is the multipart file field `package`.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::ApiError;

#[derive(Debug, Default)]
pub struct Kwargs {
    pub fields: Map<String, Value>,
    pub package: Option<Bytes>,
}

impl Kwargs {
    /// Takes a field out, treating JSON null as absent.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.fields.remove(key).filter(|v| !v.is_null())
    }

    /// Takes a text field; a non-string value is an error that names the field.
    pub fn take_text(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::BadRequest(format!(
                "invalid `{key}` {other}: expected a string"
            ))),
        }
    }

    /// Fails on any field left over, so a misspelt parameter is not silently ignored.
    pub fn reject_unknown(&self) -> Result<(), ApiError> {
        match self.fields.keys().next() {
            Some(key) => Err(ApiError::BadRequest(format!("Unknown argument: \"{key}\""))),
            None => Ok(()),
        }
    }
}

fn too_large() -> ApiError {
    ApiError::PayloadTooLarge(
        "request body too large: the function package exceeds the server's `max_package_size`"
            .to_owned(),
    )
}

fn body_error(status: StatusCode, detail: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::BadRequest(format!("cannot read the request body: {detail}"))
    }
}

impl<S: Send + Sync> FromRequest<S> for Kwargs {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mut kwargs = Kwargs::default();
        if let Some(q) = req.uri().query() {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
                .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
            for (k, v) in pairs {
                kwargs.fields.insert(k, Value::String(v));
            }
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();

        if content_type.starts_with("multipart/form-data") {
            let mut multipart = Multipart::from_request(req, state)
                .await
                .map_err(|e| body_error(e.status(), e.body_text()))?;
            loop {
                let field = multipart
                    .next_field()
                    .await
                    .map_err(|e| body_error(e.status(), e.body_text()))?;
                let Some(field) = field else { break };
                let name = field.name().unwrap_or_default().to_owned();
                let is_file = field.file_name().is_some() || name == "package";
                let data = field
                    .bytes()
                    .await
                    .map_err(|e| body_error(e.status(), e.body_text()))?;
                if name == "package" {
                    kwargs.package = Some(data);
                } else if is_file {
                    return Err(ApiError::BadRequest(format!(
                        "unexpected file field `{name}`: the package must be sent as the file field `package`"
                    )));
                } else {
                    let text = String::from_utf8(data.to_vec()).map_err(|_| {
                        ApiError::BadRequest(format!("form field `{name}` is not valid UTF-8"))
                    })?;
                    kwargs.fields.insert(name, Value::String(text));
                }
            }
            return Ok(kwargs);
        }

        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_error(e.status(), e.body_text()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(kwargs);
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
                .map_err(|e| ApiError::BadRequest(format!("malformed form body: {e}")))?;
            for (k, v) in pairs {
                kwargs.fields.insert(k, Value::String(v));
            }
        } else if content_type.starts_with("application/json") || content_type.is_empty() {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) => kwargs.fields.extend(map),
                Ok(_) => {
                    return Err(ApiError::BadRequest(
                        "malformed JSON body: expected a JSON object".to_owned(),
                    ));
                }
                Err(e) => {
                    return Err(ApiError::BadRequest(format!("malformed JSON body: {e}")));
                }
            }
        } else {
            return Err(ApiError::UnsupportedMediaType(format!(
                "unsupported content type `{content_type}`: send multipart/form-data (with the package as the file field `package`), application/x-www-form-urlencoded or application/json"
            )));
        }
        Ok(kwargs)
    }
}
