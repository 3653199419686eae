//! `GET /v1/openapi.json` against the router that serves it: every route of the router has its
//! operation in the document and every operation a route (read from the router's own route
//! table, not from a list kept beside it), the auth mode's security requirement, and a snapshot
//! of the whole document.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::harness::TestApi;

/// `(method, path)`, as the document spells them: `get`, `/v1/functions/{id}`.
pub type Operation = (String, String);

/// The routes `router` serves, read from its `Debug` output (axum exposes no route table): the
/// path of each route id in `node: Node { paths: {RouteId(3): "/v1/info", ...} }`, and its
/// methods from the route's `allow_header` (`Bytes(b"GET,HEAD,POST")`). A route whose methods
/// cannot be read (a whole service) counts as `any`.
pub fn served(router: &axum::Router) -> BTreeSet<Operation> {
    let debug = format!("{router:?}");
    // The fallback router (the 404 handler) comes after the path router.
    let main = debug.split("fallback_router").next().unwrap_or_default();
    let (routes, nodes) = main
        .split_once("node: Node { paths: {")
        .expect("axum's Router Debug output names its paths (did axum change it?)");
    let mut paths = std::collections::BTreeMap::new();
    for entry in nodes.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once(')').expect("a route id");
        let path = rest.split('"').nth(1).expect("a quoted path");
        paths.insert(id.to_owned(), path.to_owned());
    }
    let mut operations = BTreeSet::new();
    for entry in routes.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once(')').expect("a route id");
        let path = paths.get(id).expect("every route id has a path").clone();
        let methods = rest
            .split_once("allow_header: Bytes(b\"")
            .and_then(|(_, after)| after.split_once('"'))
            .map(|(methods, _)| methods.to_owned());
        match methods {
            Some(methods) => {
                for method in methods.split(',').filter(|m| *m != "HEAD") {
                    operations.insert((method.to_ascii_lowercase(), path.clone()));
                }
            }
            None => {
                operations.insert(("any".to_owned(), path.clone()));
            }
        }
    }
    operations
}

/// The document's operations; each has an `operationId` of its own.
fn documented(doc: &Value) -> BTreeSet<Operation> {
    let mut operations = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "patch", "options", "head", "trace",
        ] {
            if let Some(operation) = item.get(method) {
                operations.insert((method.to_owned(), path.clone()));
                let id = operation["operationId"].as_str().expect("an operationId");
                assert!(
                    ids.insert(id.to_owned()),
                    "operationId `{id}` is not unique"
                );
            }
        }
    }
    operations
}

#[tokio::test]
async fn every_route_has_an_operation_and_every_operation_a_route() {
    let t = TestApi::start().await;
    // The dashboard's files are served beside the API, not operations of it.
    let served: BTreeSet<Operation> = served(&ridge_api::router(t.state.clone()))
        .into_iter()
        .filter(|(_, path)| !path.starts_with("/dashboard"))
        .collect();
    // The walk itself works: routes of each kind are found with their methods.
    for known in [
        ("get", "/v1/info"),
        ("post", "/v1/functions"),
        ("put", "/v1/functions/{id}"),
        ("post", "/v1/webhooks/{id}/invoke"),
    ] {
        let known = (known.0.to_owned(), known.1.to_owned());
        assert!(
            served.contains(&known),
            "the router's routes could not be read (did axum change its Debug output?): {served:?}"
        );
    }
    let reply = t.api.get("/v1/openapi.json").send().await;
    assert_eq!(reply.status, 200);
    let doc: Value = reply.json();
    let documented = documented(&doc);

    let undocumented: Vec<String> = served
        .difference(&documented)
        .map(|(method, path)| {
            format!(
                "`{} {path}` is served but has no operation in /v1/openapi.json: give its handler \
                 `#[utoipa::path({method}, path = \"{path}\", tag = ..., params(...), responses(...))]` \
                 and register it in `routes()` in crates/ridge-api/src/lib.rs with \
                 `.routes(routes!(module::handler))`, not `.route(...)`",
                method.to_ascii_uppercase()
            )
        })
        .collect();
    assert!(undocumented.is_empty(), "{}", undocumented.join("\n"));
    let unserved: Vec<String> = documented
        .difference(&served)
        .map(|(method, path)| {
            format!(
                "`{} {path}` is in /v1/openapi.json but the router does not serve it: its handlers' \
                 `#[utoipa::path]` attributes in one `routes!(...)` must all name the same path",
                method.to_ascii_uppercase()
            )
        })
        .collect();
    assert!(unserved.is_empty(), "{}", unserved.join("\n"));
}

#[tokio::test]
async fn the_document_says_which_token_this_server_needs() {
    let none = TestApi::start().await;
    let doc: Value = none.api.get("/v1/openapi.json").send().await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc.get("security").is_none(), "`none` mode needs no token");

    let token = TestApi::start_with(|s| s.token_auth = true).await;
    // Public, like `GET /`: no token needed to read it.
    let reply = token.anonymous().get("/v1/openapi.json").send().await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.headers["content-type"].to_str().expect("ASCII"),
        "application/json"
    );
    let doc: Value = reply.json();
    assert_eq!(
        doc["security"],
        serde_json::json!([{"X-Auth-Token": []}, {"bearer": []}])
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["X-Auth-Token"]["in"], "header");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    // Public operations say so; the others answer 401 with a `Fault`.
    let invoke = &doc["paths"]["/v1/webhooks/{id}/invoke"]["post"];
    assert_eq!(invoke["security"], serde_json::json!([{}]));
    let info = &doc["paths"]["/v1/info"]["get"];
    assert!(info.get("security").is_none());
    assert_eq!(
        info["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Fault"
    );
}

#[tokio::test]
async fn the_document_keeps_its_shape() {
    let t = TestApi::start().await;
    let mut doc: Value = t.api.get("/v1/openapi.json").send().await.json();
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    doc["info"]["version"] = "[version]".into();
    insta::assert_json_snapshot!("openapi", doc);
}
