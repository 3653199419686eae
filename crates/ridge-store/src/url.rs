//! Where the store lives, as an operator writes it: `sqlite://PATH` or a libpq URL
//! (`postgres://` or `postgresql://`), and how such a URL is shown without its password.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::StoreError;

/// A store URL, parsed at the edge (the command line, the environment, the file).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH` (also `sqlite:PATH`): the embedded store in the file at `PATH`.
    Sqlite(PathBuf),
    /// `postgres://user:password@host:port/dbname?sslmode=...`, kept as given for the driver,
    /// which honours libpq's URL parameters.
    Postgres(String),
}

impl StoreUrl {
    /// The URL as `GET /v1/info` and logs show it: without any password.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            StoreUrl::Postgres(url) => redact(url),
        }
    }
}

/// Never prints the password, not even in `{:?}`.
impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({})", self.redacted())
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self, StoreError> {
        let invalid = |detail: &str| StoreError::InvalidUrl {
            url: redact(url),
            detail: detail.to_owned(),
        };
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(invalid(
                    "the SQLite URL has no path: write sqlite:///path/to/ridge.db",
                ));
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(url.to_owned()));
        }
        Err(invalid(
            "expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DBNAME",
        ))
    }
}

/// `url` without the password of its user part and without a `password` parameter.
pub(crate) fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let (query, fragment) = query
        .split_once('#')
        .map_or((query, None), |(q, f)| (q, Some(f)));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && p.split('=').next() != Some("password"))
        .collect();
    let mut out = if scheme.is_empty() {
        format!("{authority}{path}")
    } else {
        format!("{scheme}://{authority}{path}")
    };
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            (
                "postgres://ridge:s3cr3t@db.example:5432/ridge?sslmode=require",
                "postgres://ridge@db.example:5432/ridge?sslmode=require",
            ),
            (
                "postgresql://ridge:p%40ss@10.0.0.1/ridge?password=again&sslmode=verify-full",
                "postgresql://ridge@10.0.0.1/ridge?sslmode=verify-full",
            ),
            ("postgres://ridge@host/db", "postgres://ridge@host/db"),
            ("postgres://host:5433", "postgres://host:5433"),
            (
                "postgres:///ridge?host=/run/postgresql&password=x",
                "postgres:///ridge?host=/run/postgresql",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            let parsed: StoreUrl = url.parse().expect("valid");
            assert!(!format!("{parsed} {parsed:?}").contains("s3cr3t"));
        }
    }

    #[test]
    fn urls_are_parsed_by_scheme() {
        assert_eq!(
            "sqlite:///var/lib/ridge/ridge.db"
                .parse::<StoreUrl>()
                .expect("valid"),
            StoreUrl::Sqlite("/var/lib/ridge/ridge.db".into())
        );
        assert_eq!(
            "sqlite:relative.db".parse::<StoreUrl>().expect("valid"),
            StoreUrl::Sqlite("relative.db".into())
        );
        assert!(matches!(
            "postgresql://u:p@h/d".parse::<StoreUrl>(),
            Ok(StoreUrl::Postgres(_))
        ));
        for bad in ["mysql://u:secret@h/d", "sqlite://", "ridge.db"] {
            let err = bad.parse::<StoreUrl>().expect_err(bad).to_string();
            assert!(err.contains("invalid store URL"), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
