//! AWS Signature Version 4 for S3 requests, signed in headers: a pure function from a request's
//! method, host, path, query, headers, payload hash, credentials and time to the headers that
//! authenticate it. No I/O, no clock: the caller passes the time.
//!
//! Written here rather than taken from the AWS SDK, which would bring hundreds of crates for
//! four requests; the unit tests below are the worked examples of the S3 documentation
//! ("Signature Calculations for the Authorization Header"), so a mistake shows as a wrong
//! signature, not as a confusing 403 from a server.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The SHA-256 of an empty payload, hex: what GET, HEAD and DELETE send.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An access key; `Debug` shows the key id only.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<hidden>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<hidden>"),
            )
            .finish()
    }
}

/// What is signed of one request.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// `host` or `host:port`, exactly as the `Host` header carries it.
    pub host: &'a str,
    /// The path, not yet encoded: `/bucket/key`.
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// More headers to sign besides `host` and the `x-amz-*` ones this adds.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

/// The headers to add to the request: `x-amz-date`, `x-amz-content-sha256`,
/// `x-amz-security-token` (with a session token) and `authorization`.
pub fn sign(
    credentials: &Credentials,
    region: &str,
    time: DateTime<Utc>,
    request: &Request<'_>,
) -> Vec<(&'static str, String)> {
    let amz_date = time.format("%Y%m%dT%H%M%SZ").to_string();
    let date = time.format("%Y%m%d").to_string();
    let mut added = vec![
        ("x-amz-content-sha256", request.payload_sha256.to_owned()),
        ("x-amz-date", amz_date.clone()),
    ];
    if let Some(token) = &credentials.session_token {
        added.push(("x-amz-security-token", token.clone()));
    }

    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .chain([("host".to_owned(), request.host.to_owned())])
        .chain(added.iter().map(|(n, v)| ((*n).to_owned(), v.clone())))
        .collect();
    headers.sort();
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();

    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method,
        uri_encode(request.path, false),
        canonical_query(request.query),
        request.payload_sha256,
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    for part in [region, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    added.push((
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id
        ),
    ));
    added
}

/// The hex SHA-256 of `bytes`, for `x-amz-content-sha256`.
pub fn payload_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The query string, encoded and sorted as both the signature and the URL use it.
pub fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but the unreserved characters (and `/` when `encode_slash` is
/// false), upper-case hex, as SigV4 requires.
pub fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            b'/' if !encode_slash => out.push('/'),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of the S3 documentation's examples.
    fn example_credentials() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
        }
    }

    fn example_time() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2013-05-24T00:00:00Z")
            .expect("valid time")
            .with_timezone(&Utc)
    }

    fn authorization<'a>(headers: &'a [(&'static str, String)]) -> &'a str {
        &headers
            .iter()
            .find(|(name, _)| *name == "authorization")
            .expect("an authorization header")
            .1
    }

    #[test]
    fn get_object_matches_the_documented_example() {
        let headers = sign(
            &example_credentials(),
            "us-east-1",
            example_time(),
            &Request {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                path: "/test.txt",
                query: &[],
                headers: &[("Range", "bytes=0-9")],
                payload_sha256: EMPTY_PAYLOAD_SHA256,
            },
        );
        assert_eq!(
            authorization(&headers),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(headers.contains(&("x-amz-date", "20130524T000000Z".to_owned())));
    }

    #[test]
    fn put_object_matches_the_documented_example() {
        let body = b"Welcome to Amazon S3.";
        let sha = payload_sha256(body);
        assert_eq!(
            sha,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let headers = sign(
            &example_credentials(),
            "us-east-1",
            example_time(),
            &Request {
                method: "PUT",
                host: "examplebucket.s3.amazonaws.com",
                // `$` is encoded: the canonical path is `/test%24file.text`.
                path: "/test$file.text",
                query: &[],
                headers: &[
                    ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ],
                payload_sha256: &sha,
            },
        );
        assert!(
            authorization(&headers).ends_with(
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
                 Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            ),
            "{headers:?}"
        );
    }

    #[test]
    fn list_objects_matches_the_documented_example() {
        let headers = sign(
            &example_credentials(),
            "us-east-1",
            example_time(),
            &Request {
                method: "GET",
                host: "examplebucket.s3.amazonaws.com",
                path: "/",
                // Sorted by the signer, whatever the order given.
                query: &[("prefix", "J"), ("max-keys", "2")],
                headers: &[],
                payload_sha256: EMPTY_PAYLOAD_SHA256,
            },
        );
        assert!(
            authorization(&headers).ends_with(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
                 Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{headers:?}"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let credentials = Credentials {
            session_token: Some("token/with+chars".to_owned()),
            ..example_credentials()
        };
        let request = Request {
            method: "GET",
            host: "127.0.0.1:8333",
            path: "/bucket",
            query: &[],
            headers: &[],
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        let headers = sign(&credentials, "us-east-1", example_time(), &request);
        assert!(headers.contains(&("x-amz-security-token", "token/with+chars".to_owned())));
        assert!(
            authorization(&headers).contains(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
            ),
            "{headers:?}"
        );
        let without = sign(
            &example_credentials(),
            "us-east-1",
            example_time(),
            &request,
        );
        assert_ne!(authorization(&headers), authorization(&without));
    }

    #[test]
    fn encoding_keeps_unreserved_characters_only() {
        assert_eq!(uri_encode("a-b_c.d~e/f g", false), "a-b_c.d~e/f%20g");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
        assert_eq!(uri_encode("é+=", true), "%C3%A9%2B%3D");
        assert_eq!(
            canonical_query(&[("prefix", "p/a b"), ("list-type", "2")]),
            "list-type=2&prefix=p%2Fa%20b"
        );
    }
}
