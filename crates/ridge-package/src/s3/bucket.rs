//! [`Bucket`]: the five S3 calls the package store makes (put, get, delete and list objects;
//! create a bucket, for tests and set-up scripts), path-style, signed with [`super::sigv4`], over
//! reqwest.
//!
//! Every request has a connect timeout, a read timeout (a stalled transfer) and a total timeout;
//! transport errors, timeouts and the answers that S3 documents as worth retrying (500, 502, 503,
//! 504, and 429 `SlowDown`) are retried a bounded number of times with a growing pause. Other
//! answers are final and mapped once, in [`Bucket::refusal`].

use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::S3Config;
use super::sigv4::{self, Credentials, EMPTY_PAYLOAD_SHA256};
use crate::{PackageError, Result};

/// Time to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest silence in a response (a stalled transfer).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest time for a whole request, body included (a package is at most tens of MiB).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Tries of one request, the first included.
const ATTEMPTS: u32 = 3;
/// Pause before the first retry; doubled before each next one.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Keys per list request (the S3 maximum).
const LIST_PAGE: u16 = 1000;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
}

/// A bucket on an S3-compatible endpoint.
#[derive(Debug, Clone)]
pub struct Bucket {
    http: reqwest::Client,
    /// `scheme://host[:port]`.
    origin: String,
    /// The `Host` header, signed.
    host: String,
    /// The endpoint's own path, if any (`/s3` for `http://gateway/s3`), before the bucket.
    base_path: String,
    name: String,
    region: String,
    credentials: Credentials,
    /// The endpoint as configured, for messages.
    endpoint: String,
}

/// What one request got back: its status and whole body.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Bucket {
    /// A client for bucket `name`; checks the settings, sends nothing.
    pub fn new(config: &S3Config, name: &str) -> Result<Self> {
        let invalid = |reason: String| PackageError::InvalidS3Config { reason };
        let endpoint = config.endpoint();
        let url = Url::parse(&endpoint).map_err(|e| {
            invalid(format!(
                "endpoint `{endpoint}` is not a URL ({e}): set AWS_ENDPOINT_URL to http(s)://host[:port]"
            ))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if config.allow_http => {}
            "http" => {
                return Err(invalid(format!(
                    "endpoint `{endpoint}` is plain HTTP: set AWS_ALLOW_HTTP=true (or allow_http = true in [packages]) to allow it"
                )));
            }
            other => {
                return Err(invalid(format!(
                    "endpoint `{endpoint}` has scheme `{other}`: expected http or https"
                )));
            }
        }
        let Some(host_name) = url.host_str() else {
            return Err(invalid(format!("endpoint `{endpoint}` has no host")));
        };
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            return Err(invalid(format!(
                "endpoint `{endpoint}` must not carry credentials or a query: give keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )));
        }
        // `Url` drops a scheme's default port, as the `Host` header does.
        let host = match url.port() {
            Some(port) => format!("{host_name}:{port}"),
            None => host_name.to_owned(),
        };
        let mut http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .timeout(REQUEST_TIMEOUT);
        for root in &config.ca_roots {
            http = http.add_root_certificate(root.clone());
        }
        let http = http
            .build()
            .map_err(|e| invalid(format!("cannot set up an HTTP client: {e}")))?;
        Ok(Self {
            http,
            origin: format!("{}://{host}", url.scheme()),
            host,
            base_path: url.path().trim_end_matches('/').to_owned(),
            name: name.to_owned(),
            region: config.region.clone(),
            credentials: config.credentials.clone(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint, for messages and `GET /v1/info`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Creates the bucket (`PUT /bucket`); one that exists and is ours already is fine.
    pub async fn create(&self) -> Result<()> {
        let answer = self
            .send(Method::PUT, None, &[], Bytes::new(), EMPTY_PAYLOAD_SHA256)
            .await?;
        if answer.status.is_success() {
            return Ok(());
        }
        let error = ErrorBody::parse(&answer.body);
        if error.code == "BucketAlreadyOwnedByYou" {
            return Ok(());
        }
        Err(self.refusal("create bucket", "", &answer, error))
    }

    /// Checks that the bucket exists and the credentials may list it: one list of at most one
    /// key under `prefix`.
    pub async fn check(&self, prefix: &str) -> Result<()> {
        let query = [("list-type", "2"), ("max-keys", "1"), ("prefix", prefix)];
        let answer = self.get_with_query(&query).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        let error = ErrorBody::parse(&answer.body);
        Err(self.refusal("list", prefix, &answer, error))
    }

    /// Stores `body` under `key`; `sha256` is its hex SHA-256, which the server checks.
    pub async fn put(&self, key: &str, body: Bytes, sha256: &str) -> Result<()> {
        let answer = self.send(Method::PUT, Some(key), &[], body, sha256).await?;
        if answer.status.is_success() {
            return Ok(());
        }
        let error = ErrorBody::parse(&answer.body);
        Err(self.refusal("put", key, &answer, error))
    }

    /// The object's content; `None` when there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let answer = self
            .send(
                Method::GET,
                Some(key),
                &[],
                Bytes::new(),
                EMPTY_PAYLOAD_SHA256,
            )
            .await?;
        if answer.status.is_success() {
            return Ok(Some(answer.body));
        }
        let error = ErrorBody::parse(&answer.body);
        if answer.status == StatusCode::NOT_FOUND && error.code != "NoSuchBucket" {
            return Ok(None);
        }
        Err(self.refusal("get", key, &answer, error))
    }

    /// Removes the object; an absent one is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let answer = self
            .send(
                Method::DELETE,
                Some(key),
                &[],
                Bytes::new(),
                EMPTY_PAYLOAD_SHA256,
            )
            .await?;
        let error = ErrorBody::parse(&answer.body);
        if answer.status.is_success()
            || (answer.status == StatusCode::NOT_FOUND && error.code != "NoSuchBucket")
        {
            return Ok(());
        }
        Err(self.refusal("delete", key, &answer, error))
    }

    /// Every object whose key starts with `prefix`, one request per thousand.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Object>> {
        self.list_in_pages_of(prefix, LIST_PAGE).await
    }

    /// [`Bucket::list`] with `page` keys per request (tests show paging with small pages).
    pub async fn list_in_pages_of(&self, prefix: &str, page: u16) -> Result<Vec<Object>> {
        let page = page.to_string();
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type", "2"),
                ("max-keys", page.as_str()),
                ("prefix", prefix),
            ];
            if let Some(token) = &token {
                query.push(("continuation-token", token));
            }
            let answer = self.get_with_query(&query).await?;
            if !answer.status.is_success() {
                let error = ErrorBody::parse(&answer.body);
                return Err(self.refusal("list", prefix, &answer, error));
            }
            let page: ListBucketResult =
                quick_xml::de::from_reader(answer.body.as_ref()).map_err(|e| {
                    PackageError::ObjectStore {
                        operation: "list",
                        key: prefix.to_owned(),
                        status: answer.status.as_u16(),
                        code: "MalformedListing".to_owned(),
                        message: e.to_string(),
                    }
                })?;
            objects.extend(page.contents.into_iter().map(|c| Object {
                key: c.key,
                size: c.size,
            }));
            match page.next_continuation_token {
                Some(next) if page.is_truncated => token = Some(next),
                _ => return Ok(objects),
            }
        }
    }

    async fn get_with_query(&self, query: &[(&str, &str)]) -> Result<Answer> {
        self.send(Method::GET, None, query, Bytes::new(), EMPTY_PAYLOAD_SHA256)
            .await
    }

    /// Sends one request (to the bucket, or to `key` in it), retrying transport errors and
    /// retryable answers; returns the last answer.
    async fn send(
        &self,
        method: Method,
        key: Option<&str>,
        query: &[(&str, &str)],
        body: Bytes,
        sha256: &str,
    ) -> Result<Answer> {
        let path = match key {
            Some(key) => format!("{}/{}/{key}", self.base_path, self.name),
            None => format!("{}/{}", self.base_path, self.name),
        };
        let query_string = sigv4::canonical_query(query);
        let mut url = format!("{}{}", self.origin, sigv4::uri_encode(&path, false));
        if !query_string.is_empty() {
            url.push('?');
            url.push_str(&query_string);
        }
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let signed = sigv4::sign(
                &self.credentials,
                &self.region,
                chrono::Utc::now(),
                &sigv4::Request {
                    method: method.as_str(),
                    host: &self.host,
                    path: &path,
                    query,
                    headers: &[],
                    payload_sha256: sha256,
                },
            );
            let mut request = self
                .http
                .request(method.clone(), &url)
                .header(reqwest::header::HOST, &self.host)
                .body(body.clone());
            for (name, value) in signed {
                request = request.header(name, value);
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    response.bytes().await.map(|body| Answer { status, body })
                }
                Err(e) => Err(e),
            };
            let retry = match &outcome {
                Ok(answer) => is_retryable(answer.status),
                Err(_) => true,
            };
            if !retry || attempt >= ATTEMPTS {
                return outcome.map_err(|source| PackageError::ObjectStoreUnreachable {
                    endpoint: self.endpoint.clone(),
                    source,
                });
            }
            match &outcome {
                Ok(answer) => {
                    tracing::warn!(%method, %path, status = %answer.status, attempt, "object store busy, retrying");
                }
                Err(e) => {
                    tracing::warn!(%method, %path, error = %e, attempt, "object store request failed, retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            attempt += 1;
        }
    }

    /// The error for a final answer that is not a success.
    fn refusal(
        &self,
        operation: &'static str,
        key: &str,
        answer: &Answer,
        error: ErrorBody,
    ) -> PackageError {
        if error.code == "NoSuchBucket" {
            return PackageError::BucketNotFound {
                bucket: self.name.clone(),
                endpoint: self.endpoint.clone(),
            };
        }
        if answer.status == StatusCode::FORBIDDEN || answer.status == StatusCode::UNAUTHORIZED {
            return PackageError::AccessDenied {
                bucket: self.name.clone(),
                endpoint: self.endpoint.clone(),
                code: error.code,
                message: error.message,
            };
        }
        PackageError::ObjectStore {
            operation,
            key: key.to_owned(),
            status: answer.status.as_u16(),
            code: error.code,
            message: error.message,
        }
    }
}

/// Answers that S3 documents as transient.
fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// `<Error><Code>..</Code><Message>..</Message></Error>`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

impl ErrorBody {
    /// The error document; an empty one (HEAD answers, a proxy's HTML page) when unreadable.
    fn parse(body: &[u8]) -> Self {
        quick_xml::de::from_reader(body).unwrap_or_default()
    }
}

/// `ListObjectsV2`'s answer, the parts read here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    size: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_and_errors_parse_as_s3_sends_them() {
        let page: ListBucketResult = quick_xml::de::from_str(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>p/a&amp;b.zip</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"x"</ETag><Size>10</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>p/c.zip</Key><Size>5</Size></Contents>
<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#,
        )
        .expect("a listing");
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("tok"));
        let keys: Vec<_> = page
            .contents
            .iter()
            .map(|c| (c.key.as_str(), c.size))
            .collect();
        assert_eq!(keys, [("p/a&b.zip", 10), ("p/c.zip", 5)]);

        let empty: ListBucketResult = quick_xml::de::from_str(
            "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .expect("an empty listing");
        assert!(empty.contents.is_empty() && !empty.is_truncated);

        let error = ErrorBody::parse(
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>b</BucketName></Error>",
        );
        assert_eq!(error.code, "NoSuchBucket");
        assert_eq!(error.message, "The specified bucket does not exist");
        assert_eq!(ErrorBody::parse(b"<html>bad gateway</html>").code, "");
        assert_eq!(ErrorBody::parse(b"").code, "");
    }

    #[test]
    fn only_transient_answers_are_retried() {
        for code in [429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(code).expect("status")));
        }
        for code in [200, 204, 301, 400, 403, 404, 409, 501] {
            assert!(!is_retryable(StatusCode::from_u16(code).expect("status")));
        }
    }
}
