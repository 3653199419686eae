//! What can go wrong talking to a Ridge server, and how an error response becomes a message.

use ridge_core::api::Fault;

/// The longest piece of a non-JSON error body quoted in a message (an HTML error page from a
/// proxy can be large).
const MAX_QUOTED_BODY: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL cannot address a Ridge server.
    #[error("invalid server url `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The CA bundle given to trust cannot be used.
    #[error("invalid CA certificate bundle: {reason}")]
    InvalidCa { reason: String },
    /// The client certificate and key given cannot be used.
    #[error("invalid client certificate or key: {reason}")]
    InvalidIdentity { reason: String },
    /// No HTTP answer: the connection was refused or reset, the name did not resolve, the
    /// request timed out, or the body could not be read.
    #[error("{}", http_message(.0))]
    Http(#[source] reqwest::Error),
    /// The server answered with a 4xx or 5xx status; `faultstring` is its own explanation.
    #[error("{faultstring} (HTTP {status})")]
    Api { status: u16, faultstring: String },
    /// The server answered 2xx with a body that is not the JSON this call expects.
    #[error("the response from `{url}` is not the expected JSON")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn http_message(e: &reqwest::Error) -> String {
    let url = e
        .url()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "the server".to_owned());
    if e.is_connect() {
        format!(
            "the server at {url} could not be reached: start it with `ridge serve`, \
             or point --url or RIDGE_URL at a running server"
        )
    } else if e.is_timeout() {
        format!("the request to {url} timed out")
    } else if e.is_builder() {
        format!("cannot build a request for {url}")
    } else {
        format!("the request to {url} failed")
    }
}

/// The message of an error response: the JSON body's `faultstring` (Qinling's error shape), else
/// the body text, else the status line.
pub(crate) fn fault_message(status: u16, reason: Option<&str>, body: &str) -> String {
    if let Ok(fault) = serde_json::from_str::<Fault>(body) {
        return fault.faultstring;
    }
    let text = body.trim();
    if !text.is_empty() {
        return match text.char_indices().nth(MAX_QUOTED_BODY) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text.to_owned(),
        };
    }
    match reason {
        Some(reason) => format!("{status} {reason}"),
        None => format!("HTTP status {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faultstring_is_taken_from_a_wsme_body() {
        let body = r#"{"faultcode":"Client","faultstring":"Function not found [id=abc]","debuginfo":null}"#;
        assert_eq!(
            fault_message(404, Some("Not Found"), body),
            "Function not found [id=abc]"
        );
    }

    #[test]
    fn faultstring_is_taken_from_a_pecan_body() {
        let body = r#"{"faultstring":"Package md5 mismatch."}"#;
        assert_eq!(fault_message(400, None, body), "Package md5 mismatch.");
    }

    #[test]
    fn a_body_without_faultstring_is_quoted() {
        assert_eq!(
            fault_message(502, Some("Bad Gateway"), "  upstream down\n"),
            "upstream down"
        );
        assert_eq!(
            fault_message(400, None, r#"{"error":"nope"}"#),
            r#"{"error":"nope"}"#
        );
    }

    #[test]
    fn a_long_body_is_cut() {
        let body = "é".repeat(MAX_QUOTED_BODY + 10);
        let msg = fault_message(500, None, &body);
        assert!(msg.ends_with("..."));
        assert_eq!(msg.chars().count(), MAX_QUOTED_BODY + 3);
    }

    #[test]
    fn an_empty_body_falls_back_to_the_status_line() {
        assert_eq!(fault_message(404, Some("Not Found"), ""), "404 Not Found");
        assert_eq!(fault_message(599, None, " "), "HTTP status 599");
    }

    #[test]
    fn api_errors_read_like_the_server_said_them() {
        let e = ClientError::Api {
            status: 404,
            faultstring: "Function not found [id=abc]".into(),
        };
        assert_eq!(e.to_string(), "Function not found [id=abc] (HTTP 404)");
        assert_eq!(e.status(), Some(404));
    }
}
