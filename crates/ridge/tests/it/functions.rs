//! Functions through the API: create in every body style, validation, download, update, delete.

use crate::common::{TestServer, zip_files};
use reqwest::multipart::{Form, Part};
use ridge_client::{FunctionUpdate, FunctionUpload};
use serde_json::{Value, json};

fn package_files(t: &TestServer) -> Vec<std::path::PathBuf> {
    let root = t.data_dir().join("packages");
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

async fn fault(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON fault body");
    (
        status,
        body["faultstring"]
            .as_str()
            .expect("faultstring")
            .to_owned(),
    )
}

#[tokio::test]
async fn create_show_list_download_delete() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let zip = zip_files(&[("function.py", "def main(**kw):\n    return 1\n")]);
    let f = t.function_with(&rt, zip.clone(), |_| {}).await;
    assert_eq!(
        f.code_object(),
        json!({"source": "package", "md5sum": ridge_client::md5_hex(&zip)})
    );
    assert!(
        f.code.is_object(),
        "code is an object when showing one function"
    );
    assert_eq!((f.cpu, f.memory_size, f.timeout), (100, 33_554_432, 5));
    assert_eq!((f.count, f.latest_version), (0, 0));
    assert_eq!(f.entry.as_deref(), Some("function.main"));
    assert_eq!(f.runtime_id.as_deref(), Some(rt.id.as_str()));
    assert_eq!(f.project_id, "default");
    assert_eq!(f.updated_at, None);

    let shown = t.client.get_function(&f.id).await.expect("show");
    assert_eq!(shown, f);
    let listed = t.client.list_functions(false).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].code.is_string(),
        "code is a JSON string in list items"
    );
    assert_eq!(listed[0].code_object(), f.code_object());

    let downloaded = t.client.download_function(&f.id).await.expect("download");
    assert_eq!(downloaded.as_ref(), zip.as_slice());
    let resp = t
        .http()
        .get(t.v1(&format!("functions/{}?download=true", f.id)))
        .send()
        .await
        .expect("response");
    assert_eq!(resp.headers()["content-type"], "application/zip");
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("attachment; filename=\"{}\"", f.id).as_str()
    );

    assert_eq!(package_files(&t).len(), 1);
    t.client.delete_function(&f.id).await.expect("deleted");
    assert_eq!(
        t.client
            .get_function(&f.id)
            .await
            .expect_err("gone")
            .status(),
        Some(404)
    );
    assert!(
        package_files(&t).is_empty(),
        "deleting a function removes its package"
    );
    t.stop().await;
}

#[tokio::test]
async fn json_and_urlencoded_bodies_are_accepted_and_code_may_be_an_object() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    // A JSON body cannot carry a file: Qinling answered 500 here; Ridge says what is missing.
    let resp = t
        .http()
        .post(t.v1("functions"))
        .json(&json!({"code": {"source": "package"}, "runtime_id": rt.id}))
        .send()
        .await
        .expect("response");
    let (status, message) = fault(resp).await;
    assert_eq!(status, 400);
    assert!(
        message.contains("multipart file field `package`"),
        "{message}"
    );

    let resp = t
        .http()
        .post(t.v1("functions"))
        .form(&[
            ("code", r#"{"source": "package"}"#),
            ("runtime_id", rt.id.as_str()),
        ])
        .send()
        .await
        .expect("response");
    assert_eq!(fault(resp).await.0, 400);

    // Multipart with `code` given as the object's JSON text and numeric fields as text.
    let zip = zip_files(&[("main.py", "def main(**kw):\n    return 'default entry'\n")]);
    let form = Form::new()
        .text("code", r#"{"source": "package"}"#)
        .text("runtime_id", rt.id.clone())
        .text("cpu", "200")
        .text("timeout", "30")
        .part("package", Part::bytes(zip).file_name("p.zip"));
    let resp = t
        .http()
        .post(t.v1("functions"))
        .multipart(form)
        .send()
        .await
        .expect("response");
    assert_eq!(resp.status().as_u16(), 201);
    let created: Value = resp.json().await.expect("json");
    assert_eq!(created["entry"], "main.main");
    assert_eq!(
        (created["cpu"].clone(), created["timeout"].clone()),
        (json!(200), json!(30))
    );
    assert_eq!(
        t.run(&serde_json::from_value(created).expect("view"), None)
            .await
            .status,
        "success"
    );
    t.stop().await;
}

#[tokio::test]
async fn every_bad_create_is_a_4xx_and_leaves_nothing_behind() {
    let t = TestServer::start_with(|s| s.max_package_size = 64 * 1024).await;
    let rt = t.python_runtime().await;
    let zip = zip_files(&[("function.py", "def main(**kw): pass\n")]);
    let md5 = ridge_client::md5_hex(&zip);
    let form = |fields: &[(&str, &str)], package: Option<Vec<u8>>| {
        let mut form = Form::new();
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        if let Some(p) = package {
            form = form.part("package", Part::bytes(p).file_name("p.zip"));
        }
        form
    };
    let code = r#"{"source": "package"}"#;
    let rid = rt.id.as_str();
    let cases: Vec<(Form, u16, String)> = vec![
        (
            form(&[("runtime_id", rid)], Some(zip.clone())),
            400,
            "Required param is missing. Required: {'code'}".into(),
        ),
        (
            form(&[("code", code)], Some(zip.clone())),
            400,
            "\"runtime_id\" must be specified.".into(),
        ),
        (
            form(&[("code", code), ("runtime_id", "abc")], Some(zip.clone())),
            400,
            "Expected a uuid but received abc.".into(),
        ),
        (
            form(
                &[
                    ("code", code),
                    ("runtime_id", "6f1c4a37-1b38-4c4b-9c2e-0c1f0c2d9a11"),
                ],
                Some(zip.clone()),
            ),
            404,
            "Runtime not found".into(),
        ),
        (
            form(
                &[("code", r#"{"source": "ftp"}"#), ("runtime_id", rid)],
                Some(zip.clone()),
            ),
            400,
            "Invalid code source specified".into(),
        ),
        (
            form(&[("code", "{oops"), ("runtime_id", rid)], Some(zip.clone())),
            400,
            "invalid `code`".into(),
        ),
        (
            form(&[("code", code), ("runtime_id", rid)], None),
            400,
            "multipart file field `package`".into(),
        ),
        (
            form(
                &[("code", code), ("runtime_id", rid)],
                Some(b"not a zip".to_vec()),
            ),
            400,
            "Package is not a valid ZIP package.".into(),
        ),
        (
            form(
                &[
                    (
                        "code",
                        r#"{"source": "package", "md5sum": "0123456789abcdef0123456789abcdef"}"#,
                    ),
                    ("runtime_id", rid),
                ],
                Some(zip.clone()),
            ),
            400,
            "Package md5 mismatch.".into(),
        ),
        (
            form(
                &[("code", code), ("runtime_id", rid), ("cpu", "50")],
                Some(zip.clone()),
            ),
            400,
            "cpu resource limitation not within the allowable range: 100 ~ 300(millicpu).".into(),
        ),
        (
            form(
                &[("code", code), ("runtime_id", rid), ("memory_size", "lots")],
                Some(zip.clone()),
            ),
            400,
            "Invalid memory resource specified. An integer is required.".into(),
        ),
        (
            form(
                &[("code", code), ("runtime_id", rid), ("timeout", "301")],
                Some(zip.clone()),
            ),
            400,
            "timeout resource limitation not within the allowable range: 1 ~ 300(seconds).".into(),
        ),
        (
            form(
                &[("code", code), ("runtime_id", rid), ("entry", "nodot")],
                Some(zip.clone()),
            ),
            400,
            "invalid entry `nodot`".into(),
        ),
        (
            form(
                &[("code", code), ("runtime_id", rid), ("colour", "red")],
                Some(zip.clone()),
            ),
            400,
            "Unknown argument: \"colour\"".into(),
        ),
        (
            form(
                &[("code", code), ("runtime_id", rid)],
                Some(vec![0u8; 200 * 1024]),
            ),
            413,
            "max_package_size".into(),
        ),
    ];
    for (i, (form, status, message)) in cases.into_iter().enumerate() {
        let resp = t
            .http()
            .post(t.v1("functions"))
            .multipart(form)
            .send()
            .await
            .expect("response");
        let (got, text) = fault(resp).await;
        assert_eq!(got, status, "case {i}: {text}");
        assert!(text.contains(&message), "case {i}: {text}");
    }
    assert!(
        t.client
            .list_functions(false)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        package_files(&t).is_empty(),
        "no orphan package: {:?}",
        package_files(&t)
    );

    // The right md5 is accepted.
    let ok = form(
        &[
            (
                "code",
                &format!(r#"{{"source": "package", "md5sum": "{md5}"}}"#),
            ),
            ("runtime_id", rid),
        ],
        Some(zip),
    );
    let resp = t
        .http()
        .post(t.v1("functions"))
        .multipart(ok)
        .send()
        .await
        .expect("response");
    assert_eq!(resp.status().as_u16(), 201);
    t.stop().await;
}

#[tokio::test]
async fn updates_validate_and_keep_one_package() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let zip = zip_files(&[("function.py", "def main(**kw):\n    return 1\n")]);
    let f = t.function_with(&rt, zip.clone(), |_| {}).await;

    let renamed = t
        .client
        .update_function(
            &f.id,
            &FunctionUpdate {
                name: Some("renamed".into()),
                description: Some("d".into()),
                ..Default::default()
            },
        )
        .await
        .expect("renamed");
    assert_eq!(renamed.name.as_deref(), Some("renamed"));
    assert!(renamed.updated_at.is_some());
    assert_eq!(renamed.code, f.code);

    let same = t
        .client
        .update_function(
            &f.id,
            &FunctionUpdate {
                package: Some(zip.clone().into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("same code");
    assert!(
        same.to_string()
            .contains("The function code checksum is not changed."),
        "{same}"
    );

    let err = t
        .client
        .update_function(
            &f.id,
            &FunctionUpdate {
                cpu: Some(1000),
                ..Default::default()
            },
        )
        .await
        .expect_err("cpu");
    assert_eq!(err.status(), Some(400));

    let new_zip = zip_files(&[("function.py", "def main(**kw):\n    return 2\n")]);
    t.client
        .update_function(
            &f.id,
            &FunctionUpdate {
                package: Some(new_zip.into()),
                ..Default::default()
            },
        )
        .await
        .expect("new code");
    assert_eq!(
        package_files(&t).len(),
        1,
        "the replaced package is removed"
    );

    // python-qinlingclient flattens `code` into `source` and `md5sum` form fields on update.
    let flat = zip_files(&[("function.py", "def main(**kw):\n    return 3\n")]);
    let form = Form::new()
        .text("source", "package")
        .text("md5sum", ridge_client::md5_hex(&flat))
        .part("package", Part::bytes(flat).file_name("p.zip"));
    let resp = t
        .http()
        .put(t.v1(&format!("functions/{}", f.id)))
        .multipart(form)
        .send()
        .await
        .expect("response");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(crate::common::output(&t.run(&f, None).await), json!(3));

    let resp = t
        .http()
        .put(t.v1("functions/abc"))
        .form(&[("name", "x")])
        .send()
        .await
        .expect("response");
    assert_eq!(
        fault(resp).await,
        (400, "Expected a uuid but received abc.".to_owned())
    );
    t.stop().await;
}

#[tokio::test]
async fn functions_need_an_available_runtime() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let upload = FunctionUpload {
        runtime_id: Some(rt.id.clone()),
        package: Some(zip_files(&[("main.py", "def main(**kw): pass\n")]).into()),
        ..Default::default()
    };
    let f = t.client.create_function(&upload).await.expect("created");
    let err = t.client.delete_runtime(&rt.id).await.expect_err("in use");
    assert_eq!(err.status(), Some(403));
    assert!(
        err.to_string()
            .contains(&format!("Runtime {} is still in use.", rt.id)),
        "{err}"
    );
    t.client.delete_function(&f.id).await.expect("deleted");
    t.client
        .delete_runtime(&rt.id)
        .await
        .expect("runtime deleted");
    t.stop().await;
}
