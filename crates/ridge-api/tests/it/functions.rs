//! Functions through the router: create in every body style, validation, download, update,
//! delete.

use serde_json::{Value, json};

use crate::harness::{Multipart, TestApi, Upload, api_error, md5_hex, output, zip_files};

#[tokio::test]
async fn create_show_list_download_delete() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let zip = zip_files(&[("function.py", "1")]);
    let f = t
        .api
        .create_function(&Upload {
            name: Some("function".into()),
            runtime_id: Some(rt.id.clone()),
            entry: Some("function.main".into()),
            package: Some(zip.clone()),
            ..Upload::default()
        })
        .await
        .expect("created");
    assert_eq!(
        f.code_object(),
        json!({"source": "package", "md5sum": md5_hex(&zip)})
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

    let shown = t.api.get_function(&f.id).await.expect("show");
    assert_eq!(shown, f);
    let listed = t.api.list_functions(false).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].code.is_string(),
        "code is a JSON string in list items"
    );
    assert_eq!(listed[0].code_object(), f.code_object());

    let downloaded = t.api.download_function(&f.id).await.expect("download");
    assert_eq!(downloaded.as_ref(), zip.as_slice());
    let reply = t
        .api
        .get(&format!("/v1/functions/{}?download=true", f.id))
        .send()
        .await;
    assert_eq!(reply.headers["content-type"], "application/zip");
    assert_eq!(
        reply.headers["content-disposition"],
        format!("attachment; filename=\"{}\"", f.id).as_str()
    );

    assert_eq!(t.package_files().len(), 2, "the zip and what it unpacks to");
    t.api.delete_function(&f.id).await.expect("deleted");
    assert_eq!(api_error(t.api.get_function(&f.id).await).0, 404);
    assert!(
        t.package_files().is_empty(),
        "deleting a function removes its package"
    );
}

#[tokio::test]
async fn json_and_urlencoded_bodies_are_accepted_and_code_may_be_an_object() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    // A JSON body cannot carry a file: Qinling answered 500 here; Ridge says what is missing.
    let (status, message) = t
        .api
        .post("/v1/functions")
        .json(&json!({"code": {"source": "package"}, "runtime_id": rt.id}))
        .send()
        .await
        .fault();
    assert_eq!(status, 400);
    assert!(
        message.contains("multipart file field `package`"),
        "{message}"
    );

    let reply = t
        .api
        .post("/v1/functions")
        .form(&[
            ("code", r#"{"source": "package"}"#),
            ("runtime_id", rt.id.as_str()),
        ])
        .send()
        .await;
    assert_eq!(reply.fault().0, 400);

    // Multipart with `code` given as the object's JSON text and numeric fields as text.
    let zip = zip_files(&[("main.py", "\"default entry\"")]);
    let form = Multipart::new()
        .text("code", r#"{"source": "package"}"#)
        .text("runtime_id", &rt.id)
        .text("cpu", "200")
        .text("timeout", "30")
        .package(zip);
    let reply = t.api.post("/v1/functions").multipart(form).send().await;
    assert_eq!(reply.status, 201);
    let created: Value = reply.value();
    assert_eq!(created["entry"], "main.main");
    assert_eq!(
        (created["cpu"].clone(), created["timeout"].clone()),
        (json!(200), json!(30))
    );
    let e = t
        .run(&serde_json::from_value(created).expect("view"), None)
        .await;
    assert_eq!(e.status, "success");
    assert_eq!(output(&e)["v"], "default entry", "the default entry ran");
}

#[tokio::test]
async fn every_bad_create_is_a_4xx_and_leaves_nothing_behind() {
    let t = TestApi::start_with(|s| s.config.max_package_size = 64 * 1024).await;
    let rt = t.python_runtime().await;
    let zip = zip_files(&[("function.py", "null")]);
    let md5 = md5_hex(&zip);
    let form = |fields: &[(&str, &str)], package: Option<Vec<u8>>| {
        let mut form = Multipart::new();
        for (k, v) in fields {
            form = form.text(k, v);
        }
        match package {
            Some(p) => form.package(p),
            None => form,
        }
    };
    let code = r#"{"source": "package"}"#;
    let rid = rt.id.as_str();
    let cases: Vec<(Multipart, u16, String)> = vec![
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
        let (got, text) = t
            .api
            .post("/v1/functions")
            .multipart(form)
            .send()
            .await
            .fault();
        assert_eq!(got, status, "case {i}: {text}");
        assert!(text.contains(&message), "case {i}: {text}");
    }
    assert!(t.api.list_functions(false).await.expect("list").is_empty());
    assert!(
        t.package_files().is_empty(),
        "no orphan package: {:?}",
        t.package_files()
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
    let reply = t.api.post("/v1/functions").multipart(ok).send().await;
    assert_eq!(reply.status, 201);
}

#[tokio::test]
async fn updates_validate_and_keep_one_package() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let zip = zip_files(&[("function.py", "1")]);
    let f = t
        .api
        .create_function(&Upload {
            runtime_id: Some(rt.id.clone()),
            entry: Some("function.main".into()),
            package: Some(zip.clone()),
            ..Upload::default()
        })
        .await
        .expect("created");

    let renamed = t
        .api
        .update_function(
            &f.id,
            &Upload {
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

    let (_, same) = api_error(
        t.api
            .update_function(
                &f.id,
                &Upload {
                    package: Some(zip.clone()),
                    ..Default::default()
                },
            )
            .await,
    );
    assert!(
        same.contains("The function code checksum is not changed."),
        "{same}"
    );

    let (status, _) = api_error(
        t.api
            .update_function(
                &f.id,
                &Upload {
                    cpu: Some(1000),
                    ..Default::default()
                },
            )
            .await,
    );
    assert_eq!(status, 400);

    t.update_code(&f, "2").await;
    assert_eq!(
        t.package_files().len(),
        2,
        "the replaced package (zip and size) is removed"
    );

    // python-qinlingclient flattens `code` into `source` and `md5sum` form fields on update.
    let flat = zip_files(&[("function.py", "3")]);
    let form = Multipart::new()
        .text("source", "package")
        .text("md5sum", &md5_hex(&flat))
        .package(flat);
    let reply = t
        .api
        .put(&format!("/v1/functions/{}", f.id))
        .multipart(form)
        .send()
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(output(&t.run(&f, None).await)["v"], json!(3));

    let reply = t
        .api
        .put("/v1/functions/abc")
        .form(&[("name", "x")])
        .send()
        .await;
    assert_eq!(
        reply.fault(),
        (400, "Expected a uuid but received abc.".to_owned())
    );
}

#[tokio::test]
async fn functions_need_an_available_runtime() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t
        .api
        .create_function(&Upload {
            runtime_id: Some(rt.id.clone()),
            package: Some(zip_files(&[("main.py", "null")])),
            ..Default::default()
        })
        .await
        .expect("created");
    let (status, message) = api_error(t.api.delete_runtime(&rt.id).await);
    assert_eq!(status, 403);
    assert!(
        message.contains(&format!("Runtime {} is still in use.", rt.id)),
        "{message}"
    );
    t.api.delete_function(&f.id).await.expect("deleted");
    t.api.delete_runtime(&rt.id).await.expect("runtime deleted");
}
