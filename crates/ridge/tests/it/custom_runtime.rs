//! A runtime kind declared only in the configuration file: the Perl worker of
//! examples/runtimes/perl, through a real server in the default sandbox. The API names the kind;
//! it never takes a command.

use std::path::{Path, PathBuf};

use crate::common::{
    RESOURCE, TestServer, api_error, assert_timed_out, assert_warm_reuse, output, zip_files,
};
use ridge_core::api::{CreateRuntime, ExecutionView, FunctionView, RuntimeView};
use serde_json::{Value, json};

fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/runtimes/perl/ridge.toml")
}

/// A server started with the example's configuration file and a `perl` runtime.
async fn perl_server(
    adjust: impl FnOnce(&mut ridge::config::Settings),
) -> (TestServer, RuntimeView) {
    let t = TestServer::start_with_config(&example_config(), adjust).await;
    let rt = t.runtime("perl").await;
    (t, rt)
}

/// A function whose `main.pl` is `source`, entry `main.main`.
async fn perl_function(
    t: &TestServer,
    rt: &RuntimeView,
    source: &str,
    adjust: impl FnOnce(&mut ridge_client::FunctionUpload),
) -> FunctionView {
    t.function_with(rt, zip_files(&[("main.pl", source)]), |u| {
        u.entry = Some("main.main".to_owned());
        adjust(u);
    })
    .await
}

async fn log(t: &TestServer, e: &ExecutionView) -> String {
    t.client.execution_log(&e.id).await.expect("log")
}

#[tokio::test]
async fn the_example_hello_runs_with_input_and_logs() {
    let (t, rt) = perl_server(|_| {}).await;
    let hello = std::fs::read_to_string(example_config().with_file_name("hello.pl"))
        .expect("the example function");
    let f = t
        .function_with(&rt, zip_files(&[("hello.pl", &hello)]), |u| {
            u.entry = Some("hello.main".to_owned())
        })
        .await;
    let e = t.run(&f, Some(r#"{"name": "Perl"}"#)).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(
        output(&e),
        json!({"greeting": "Hello, Perl", "execution_id": e.id})
    );
    assert_eq!(
        log(&t, &e).await,
        format!(
            "Start execution: {id}\nHello from the log, Perl\nFinished execution: {id}\n",
            id = e.id
        )
    );

    // stderr and child processes are captured too; the environment is the worker's own.
    let f = perl_function(
        &t,
        &rt,
        r#"
sub main {
    my ($context, $input) = @_;
    print STDERR "to stderr\n";
    system('echo', 'from a child process');
    return { input => $input, env => [sort grep { $_ ne 'PWD' } keys %ENV] };
}
"#,
        |_| {},
    )
    .await;
    let e = t.run(&f, Some("[1, 2]")).await;
    assert_eq!(
        output(&e),
        json!({"input": [1, 2], "env": ["HOME", "LANG", "PATH"]})
    );
    let text = log(&t, &e).await;
    assert!(text.contains("to stderr\nfrom a child process\n"), "{text}");
    assert_eq!(output(&t.run(&f, None).await)["input"], Value::Null);
    t.stop().await;
}

#[tokio::test]
async fn die_fails_with_its_message_and_bad_code_fails_to_load() {
    let (t, rt) = perl_server(|_| {}).await;
    let f = perl_function(
        &t,
        &rt,
        "sub main { print \"before\\n\"; die \"bad input here\\n\" }\n",
        |_| {},
    )
    .await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "failed");
    assert_eq!(output(&e), json!("bad input here"));
    assert!(log(&t, &e).await.contains("before\nbad input here\n"));

    let broken = perl_function(&t, &rt, "sub main { return 1 \n", |_| {}).await;
    let e = t.run(&broken, None).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert!(log(&t, &e).await.contains("Missing right curly"), "{e:?}");
    let missing = perl_function(&t, &rt, "sub other { 1 }\n", |_| {}).await;
    let e = t.run(&missing, None).await;
    assert!(
        output(&e)
            .as_str()
            .is_some_and(|m| m.contains("defines no sub main")),
        "{e:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn timeouts_and_memory_limits_hold_as_for_the_built_in_runtimes() {
    let (t, rt) = perl_server(|_| {}).await;
    let f = perl_function(
        &t,
        &rt,
        r#"
our $token = rand();
sub main {
    my ($context, $input) = @_;
    1 while $input->{spin};
    my $hog = 'x' x ($input->{hog} ? 256 * 1024 * 1024 : 1);
    return $token;
}
"#,
        |u| u.timeout = Some(1),
    )
    .await;
    let first = t.run(&f, Some("{}")).await;
    assert_eq!(first.status, "success", "{first:?}");
    assert_timed_out(&t.run(&f, Some(r#"{"spin": 1}"#)).await);
    // The memory limit, not the timeout, must stop the hog and its fresh worker's cold start.
    let f = t.set_timeout(&f, 30).await;
    let e = t.run(&f, Some(r#"{"hog": 1}"#)).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(&e), json!(RESOURCE));
    let after = t.run(&f, Some("{}")).await;
    assert_eq!(after.status, "success", "{after:?}");
    assert_ne!(output(&after), output(&first), "a new worker took over");
    t.stop().await;
}

#[tokio::test]
async fn concurrent_executions_share_warm_workers() {
    let (t, rt) = perl_server(|s| s.max_workers_per_function = 2).await;
    let f = perl_function(
        &t,
        &rt,
        r#"
our $calls = 0;
our $worker = rand();
sub main { $calls++; select(undef, undef, undef, 0.2); return { worker => "$worker", calls => $calls } }
"#,
        |_| {},
    )
    .await;
    assert_warm_reuse(&t, &f, 6, 2).await;
    t.stop().await;
}

#[tokio::test]
async fn the_api_names_declared_kinds_and_never_takes_a_command() {
    let (t, _) = perl_server(|_| {}).await;
    for image in [
        "/usr/bin/perl",
        "perl -e 'system(1)'",
        "/usr/bin/perl {dir}/worker.pl",
    ] {
        let (status, fault) = api_error(
            t.client
                .create_runtime(&CreateRuntime {
                    image: Some(image.to_owned()),
                    ..Default::default()
                })
                .await,
        );
        assert_eq!(status, 400, "{image}: {fault}");
        assert!(fault.starts_with("invalid runtime image"), "{fault}");
    }
    let info: Value = t
        .http()
        .get(t.v1("info"))
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    assert!(info.to_string().contains("perl"), "{info}");
    t.stop().await;

    // Without the configuration file there is no such kind.
    let plain = TestServer::start().await;
    let (status, fault) = api_error(
        plain
            .client
            .create_runtime(&CreateRuntime {
                image: Some("perl".to_owned()),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 400);
    assert!(fault.starts_with("unknown runtime image `perl`"), "{fault}");
    plain.stop().await;
}
