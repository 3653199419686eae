//! Name → id: wherever a command takes a runtime or a function, it takes a name or an id. An id
//! (a UUID) is used as is; a name is looked up by listing, as the openstack client does, and
//! must match exactly one resource.

use anyhow::bail;
use ridge_client::RidgeClient;
use ridge_core::ids::parse_uuid;

/// The id of the runtime `wanted` (an id, or the name of exactly one visible runtime).
pub async fn runtime(client: &RidgeClient, wanted: &str) -> anyhow::Result<String> {
    if is_id(wanted) {
        return Ok(wanted.to_owned());
    }
    let runtimes = client.list_runtimes().await?;
    pick(
        "runtime",
        wanted,
        runtimes.iter().map(|r| (r.id.as_str(), r.name.as_deref())),
    )
}

/// The id of the function `wanted` (an id, or the name of exactly one of the caller's
/// functions).
pub async fn function(client: &RidgeClient, wanted: &str) -> anyhow::Result<String> {
    if is_id(wanted) {
        return Ok(wanted.to_owned());
    }
    let functions = client.list_functions(false).await?;
    pick(
        "function",
        wanted,
        functions.iter().map(|f| (f.id.as_str(), f.name.as_deref())),
    )
}

fn is_id(s: &str) -> bool {
    parse_uuid(s).is_ok()
}

/// The id of the one candidate named `wanted`.
fn pick<'a>(
    kind: &str,
    wanted: &str,
    candidates: impl Iterator<Item = (&'a str, Option<&'a str>)>,
) -> anyhow::Result<String> {
    let ids: Vec<&str> = candidates
        .filter(|(_, name)| *name == Some(wanted))
        .map(|(id, _)| id)
        .collect();
    match ids.as_slice() {
        [id] => Ok((*id).to_owned()),
        [] => bail!("no {kind} named `{wanted}`"),
        many => bail!(
            "{} {kind}s are named `{wanted}`: use an id ({})",
            many.len(),
            many.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "6b1ac5a4-6a43-4e4b-8a8c-8d3c0f1f1b11";
    const B: &str = "0c7d1d0e-1111-4a4b-9c9c-222233334444";

    #[test]
    fn ids_are_recognised() {
        assert!(is_id(A));
        assert!(!is_id("hello"));
        assert!(!is_id("6b1ac5a4"));
    }

    #[test]
    fn a_unique_name_resolves() {
        let all = [(A, Some("hello")), (B, Some("other"))];
        assert_eq!(
            pick("function", "other", all.into_iter()).expect("one match"),
            B
        );
    }

    #[test]
    fn no_match_is_an_error() {
        let all = [(A, Some("hello")), (B, None)];
        let err = pick("function", "x", all.into_iter()).expect_err("no match");
        assert_eq!(err.to_string(), "no function named `x`");
    }

    #[test]
    fn several_matches_ask_for_an_id() {
        let all = [(A, Some("x")), (B, Some("x"))];
        let err = pick("runtime", "x", all.into_iter()).expect_err("ambiguous");
        assert_eq!(
            err.to_string(),
            format!("2 runtimes are named `x`: use an id ({A}, {B})")
        );
    }
}
