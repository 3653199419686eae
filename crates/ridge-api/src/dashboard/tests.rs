use axum::body::to_bytes;
use axum::http::header::{CONTENT_SECURITY_POLICY as CSP, X_FRAME_OPTIONS};

use super::*;

fn request(pairs: &[(axum::http::HeaderName, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(
            name.clone(),
            HeaderValue::from_str(value).expect("valid value"),
        );
    }
    h
}

fn text(path: &str) -> &'static str {
    let (_, bytes) = FILES
        .iter()
        .find(|(p, _)| *p == path)
        .unwrap_or_else(|| panic!("`{path}` is embedded"));
    std::str::from_utf8(bytes).expect("UTF-8 text")
}

#[tokio::test]
async fn files_are_served_with_security_headers_and_revalidated_by_etag() {
    let page = serve("index.html", &HeaderMap::new());
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers();
    assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(
        h[CSP]
            .to_str()
            .expect("ascii")
            .contains("frame-ancestors 'none'")
    );
    assert!(!h[CSP].to_str().expect("ascii").contains("unsafe-inline"));
    assert_eq!(h[X_FRAME_OPTIONS], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h[CACHE_CONTROL], "no-cache");
    let etag = h[ETAG].to_str().expect("ascii").to_owned();

    let again = serve("index.html", &request(&[(IF_NONE_MATCH, &etag)]));
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let body = to_bytes(again.into_body(), 1024).await.expect("body");
    assert!(body.is_empty());
    let stale = serve("index.html", &request(&[(IF_NONE_MATCH, "\"old\"")]));
    assert_eq!(stale.status(), StatusCode::OK);

    let missing = serve("../Cargo.toml", &HeaderMap::new());
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.headers()[X_FRAME_OPTIONS], "DENY");
}

#[test]
fn every_file_has_a_known_type_and_nothing_comes_from_another_host() {
    assert!(files().any(|f| f == "index.html"));
    for path in files() {
        assert_ne!(
            content_type(path),
            "application/octet-stream",
            "`{path}` has no content type"
        );
        if path.ends_with(".png") {
            continue;
        }
        let source = text(path);
        for scheme in ["http://", "https://", "//cdn"] {
            for (i, _) in source.match_indices(scheme) {
                let around = &source[i.saturating_sub(40)..(i + 40).min(source.len())];
                // Only text shown to the user (a curl line's URL is built from the server's
                // own webhook URL) may mention a scheme, never an import or a link.
                assert!(
                    !around.contains("import")
                        && !around.contains("src=")
                        && !around.contains("href="),
                    "`{path}` loads from another host: {around}"
                );
            }
        }
    }
}

#[test]
fn the_page_has_no_inline_script_or_style_and_links_only_embedded_files() {
    let html = text("index.html");
    assert!(!html.contains("style="), "inline style attribute");
    assert!(!html.contains("<style"), "inline style element");
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').expect("tag ends")];
        assert!(tag.contains("src="), "inline script: {tag}");
    }
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let start = i + attr.len();
            let link = &html[start..start + html[start..].find('"').expect("quote")];
            if link.starts_with('#') {
                continue;
            }
            let file = link
                .strip_prefix(PREFIX)
                .unwrap_or_else(|| panic!("`{link}` is outside {PREFIX}"));
            assert!(files().any(|f| f == file), "`{link}` is not embedded");
        }
    }
}

#[test]
fn module_imports_name_embedded_files() {
    for path in files().filter(|p| p.ends_with(".js")) {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        for line in text(path).lines().filter(|l| l.starts_with("import ")) {
            let spec = line
                .rsplit_once(" from ")
                .map_or(line.trim_start_matches("import "), |(_, s)| s)
                .trim_matches(|c| c == ';' || c == '\'' || c == '"' || c == ' ');
            assert!(
                spec.starts_with("./") || spec.starts_with("../"),
                "`{path}` imports `{spec}`: only relative paths to embedded files"
            );
            let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
            for part in spec.split('/') {
                match part {
                    "." => {}
                    ".." => assert!(parts.pop().is_some(), "`{path}` imports `{spec}`: outside"),
                    name => parts.push(name),
                }
            }
            let file = parts.join("/");
            assert!(
                files().any(|f| f == file),
                "`{path}` imports missing `{file}`"
            );
        }
    }
}

#[test]
fn browsers_are_sent_to_the_dashboard_and_api_clients_are_not() {
    let browser = request(&[(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")]);
    assert!(wants_html(&browser));
    assert!(!wants_html(&request(&[(ACCEPT, "application/json")])));
    assert!(!wants_html(&request(&[(ACCEPT, "*/*")])));
    assert!(!wants_html(&HeaderMap::new()));
    let r = redirect();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], PREFIX);
}
