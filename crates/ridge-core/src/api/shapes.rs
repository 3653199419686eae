//! Snapshots of every view's JSON, built from fixed domain values: the shapes Qinling clients
//! and scripts read, so a change to one shows up as a snapshot diff to review.

use insta::assert_json_snapshot;
use serde_json::json;

use super::*;
use crate::fixtures::{self, at, fixed_id};
use crate::tenancy::{Limit, Quotas};
use crate::{
    ApiToken, CronPattern, ExecutionInput, ExecutionResult, ExecutionStatus, FunctionVersion,
    JobStatus, LimitsPolicy, Project, ProjectId, Role, Runtime, Target, User,
};

fn runtime() -> Runtime {
    Runtime {
        id: fixed_id(0x1),
        name: Some("python3".into()),
        ..fixtures::runtime("default", true, 0)
    }
}

fn function() -> Function {
    Function {
        id: fixed_id(0x2),
        description: Some("says hello".into()),
        entry: crate::Entry::try_from("hello.main".to_owned()).expect("a valid entry"),
        count: 3,
        latest_version: 1,
        updated_at: Some(at(5_000_000)),
        ..fixtures::function("default", runtime().id, 1_000_000)
    }
}

fn execution() -> Execution {
    Execution {
        id: fixed_id(0x3),
        function_alias: Some("prod".into()),
        description: Some("Created by Webhook 7".into()),
        status: ExecutionStatus::Success,
        input: ExecutionInput::from_request(&json!("{\"name\": \"Ridge\"}")),
        result: Some(ExecutionResult::new(0.0421, json!("Hello, Ridge"))),
        started_at: Some(at(2_100_000)),
        updated_at: Some(at(2_200_000)),
        ..fixtures::execution(&function(), 2_000_000)
    }
}

fn user() -> User {
    User {
        id: fixed_id(0x8),
        ..fixtures::user("team-a", "alice", Role::Member, 0)
    }
}

fn token() -> ApiToken {
    ApiToken {
        id: fixed_id(0x9),
        description: Some("ci".into()),
        expires_at: Some(at(3_600_000_000)),
        ..fixtures::token(&user(), "hash", 0)
    }
}

#[test]
fn runtimes() {
    assert_json_snapshot!("runtime", RuntimeView::from(&runtime()));
    let creating = Runtime {
        id: fixed_id(0x11),
        status: crate::RuntimeStatus::Creating,
        is_public: false,
        description: None,
        updated_at: Some(at(1)),
        ..fixtures::runtime("team-a", false, 0)
    };
    assert_json_snapshot!(
        "runtime_list",
        RuntimeList {
            runtimes: vec![RuntimeView::from(&runtime()), RuntimeView::from(&creating)],
        }
    );
    assert_json_snapshot!(
        "pool",
        PoolView {
            name: runtime().id.to_string(),
            capacity: PoolCapacity {
                total: 3,
                available: 1,
            },
            prestarted: PrestartedView {
                setting: Some(4),
                default_size: 2,
                max_size: 32,
                size: 4,
                ready: 1,
                workers: vec!["python3-prestarted-4021-7".to_owned()],
                unavailable: None,
                last_error: None,
                memory_size: None,
                zygote: Some("ready".to_owned()),
            },
        }
    );
    // Node.js: only functions of the memory_size its workers' heap was made for take one.
    assert_json_snapshot!(
        "pool_nodejs",
        PrestartedView {
            setting: None,
            default_size: 2,
            max_size: 32,
            size: 2,
            ready: 2,
            workers: vec![
                "nodejs-prestarted-4021-8".to_owned(),
                "nodejs-prestarted-4021-9".to_owned(),
            ],
            unavailable: None,
            last_error: None,
            memory_size: Some(33_554_432),
            zygote: None,
        }
    );
}

#[test]
fn functions() {
    assert_json_snapshot!("function_detail", FunctionView::detail(&function()));
    assert_json_snapshot!(
        "function_list",
        FunctionList {
            functions: vec![FunctionView::list_item(&function())],
        }
    );
    assert_json_snapshot!(
        "workers",
        WorkerList {
            workers: vec![WorkerView {
                function_id: function().id.to_string(),
                function_version: 0,
                worker_name: "python3-2-1".into(),
                node: Some("node-a".into()),
            }],
        }
    );
}

#[test]
fn executions() {
    assert_json_snapshot!("execution_finished", ExecutionView::from(&execution()));
    let waiting = Execution {
        id: fixed_id(0x33),
        input: ExecutionInput::from_request(&json!("plain text")),
        sync: false,
        ..fixtures::execution(&function(), 3_000_000)
    };
    assert_json_snapshot!(
        "execution_list",
        ExecutionList {
            executions: vec![
                ExecutionView::from(&execution()),
                ExecutionView::from(&waiting)
            ],
            next: None,
        }
    );
}

#[test]
fn versions_and_aliases() {
    let version = FunctionVersion {
        id: fixed_id(0x4),
        description: Some("first".into()),
        count: 2,
        ..fixtures::version(&function(), 1, 4_000_000)
    };
    assert_json_snapshot!("version", VersionView::from(&version));
    assert_json_snapshot!(
        "version_list",
        VersionList {
            function_versions: vec![VersionView::from(&version)],
        }
    );
    let alias = crate::Alias {
        id: fixed_id(0x5),
        description: Some("what runs in production".into()),
        updated_at: Some(at(6_000_000)),
        ..fixtures::alias(&function(), "prod", 1, 5_000_000)
    };
    assert_json_snapshot!("alias", AliasView::from(&alias));
    assert_json_snapshot!(
        "alias_list",
        AliasList {
            function_aliases: vec![AliasView::from(&alias)],
        }
    );
}

#[test]
fn webhooks() {
    let public = crate::Webhook {
        id: fixed_id(0x6),
        ..fixtures::webhook(&function(), 6_000_000)
    };
    let signed = crate::Webhook {
        id: fixed_id(0x66),
        target: Target::Alias("prod".parse().expect("a valid alias")),
        description: Some("from GitHub".into()),
        secret: Some("s".repeat(16)),
        ..fixtures::webhook(&function(), 6_500_000)
    };
    let base = "http://ridge.example:7070";
    assert_json_snapshot!("webhook", WebhookView::new(&public, base));
    // The answer to the request that set the secret: the only one that shows it.
    let mut shown = WebhookView::new(&signed, base);
    shown.secret = signed.secret.clone();
    assert_json_snapshot!("webhook_with_its_new_secret", shown);
    assert_json_snapshot!(
        "webhook_list",
        WebhookList {
            webhooks: vec![
                WebhookView::new(&public, base),
                WebhookView::new(&signed, base)
            ],
        }
    );
    assert_json_snapshot!(
        "invoke",
        InvokeView {
            execution_id: execution().id.to_string(),
            execution_ids: Vec::new(),
        }
    );
}

#[test]
fn jobs() {
    let once = crate::Job {
        id: fixed_id(0x7),
        name: Some("nightly report".into()),
        function_input: Some("{\"day\": \"monday\"}".into()),
        ..fixtures::job(&function(), 7_000_000)
    };
    let cron = crate::Job {
        id: fixed_id(0x77),
        target: Target::Alias("prod".parse().expect("a valid alias")),
        pattern: Some(CronPattern::parse("0 */2 * * *").expect("a valid pattern")),
        status: JobStatus::Paused,
        count: None,
        updated_at: Some(at(8_000_000)),
        ..fixtures::job(&function(), 7_500_000)
    };
    assert_json_snapshot!("job", JobView::from(&once));
    assert_json_snapshot!(
        "job_list",
        JobList {
            jobs: vec![JobView::from(&once), JobView::from(&cron)],
        }
    );
}

#[test]
fn tenancy() {
    let project = Project {
        description: Some("the A team".into()),
        ..fixtures::project_row("team-a", 0)
    };
    assert_json_snapshot!("project", ProjectView::from(&project));
    assert_json_snapshot!(
        "project_list",
        ProjectList {
            projects: vec![ProjectView::from(&project)],
        }
    );
    assert_json_snapshot!("user", UserView::from(&user()));
    assert_json_snapshot!(
        "user_list",
        UserList {
            users: vec![UserView::from(&user())],
        }
    );
    // The answer to `POST /v1/tokens`: the only one that shows the secret.
    let mut issued = TokenView::from(&token());
    issued.token = Some("rdg_0123456789abcdef".into());
    assert_json_snapshot!("token_just_issued", issued);
    let revoked = ApiToken {
        id: fixed_id(0x99),
        expires_at: None,
        revoked_at: Some(at(1_000_000)),
        ..token()
    };
    assert_json_snapshot!(
        "token_list",
        TokenList {
            tokens: vec![TokenView::from(&token()), TokenView::from(&revoked)],
        }
    );
    assert_json_snapshot!(
        "whoami",
        WhoamiView {
            auth: "token".into(),
            project_id: "team-a".into(),
            user_id: Some(user().id.to_string()),
            is_admin: false,
            roles: vec!["member".into()],
        }
    );
    let quotas = Quotas {
        functions: Limit::At(100),
        package_bytes: Limit::At(1 << 30),
        concurrent_executions: Limit::Unlimited,
        executions_per_second: Limit::At(10),
        jobs: Limit::At(20),
    };
    let project: ProjectId = "team-a".parse().expect("a valid project");
    assert_json_snapshot!("quotas", QuotaView::new(&project, &quotas, [3, 4096, 1, 2]));
    let retention = crate::Retention {
        max_age: Limit::At(604_800),
        max_per_function: Limit::Unlimited,
    };
    assert_json_snapshot!("retention", RetentionView::new(&project, &retention));
}

#[test]
fn info_and_faults() {
    assert_json_snapshot!(
        "info",
        InfoView {
            version: "0.1.0".into(),
            store: "sqlite:///var/lib/ridge/ridge.db".into(),
            package_store: "file:///var/lib/ridge/packages".into(),
            auth: "none".into(),
            runtimes: vec![RuntimeKindInfo {
                kind: "python3".into(),
                available: true,
                detail: "Python 3.12.3 at /usr/bin/python3".into(),
            }],
            sandbox: SandboxInfo {
                mode: "refuse".into(),
                cgroup: "v2".into(),
                protections: vec![Protection {
                    name: "network isolation".into(),
                    enforced: true,
                    turned_off: false,
                    detail: "loopback only".into(),
                }],
            },
            limits: LimitsPolicy::default(),
            node: "node-a".into(),
            nodes: vec![NodeInfo {
                name: "node-a".into(),
                address: "http://10.0.0.7:7070".into(),
                started_at: "2026-12-06T10:00:00".into(),
                heartbeat_at: "2026-12-06T10:05:03".into(),
                running: 3,
                waiting: 1,
            }],
        }
    );
    assert_json_snapshot!(
        "fault",
        Fault {
            faultcode: Some("Client".into()),
            faultstring: "Function not found [id=00000000-0000-0000-0000-000000000002]".into(),
            debuginfo: None,
        }
    );
}

#[test]
fn statistics() {
    let mut durations = vec![0.004, 0.012, 0.25];
    assert_json_snapshot!(
        "statistics",
        StatisticsView {
            window_seconds: 3600,
            executions: StatusCounts {
                running: 1,
                success: 40,
                failed: 2,
                error: 0,
            },
            duration_p50: percentile(&mut durations, 50.0),
            duration_p99: percentile(&mut durations, 99.0),
            duration_samples: 3,
            duration_sample_limit: 10_000,
            cold_starts: 2,
            warm_workers: 1,
            queue_depth: 0,
            node: "node-a".into(),
        }
    );
}

#[test]
fn event_triggers() {
    use crate::event_trigger::DeliveryOptions;
    let notifications = crate::EventTrigger {
        id: fixed_id(0x10),
        project_id: ProjectId::default_project(),
        target: Target::Alias("prod".parse().expect("a valid alias")),
        description: Some("new instances".into()),
        amqp_url: "amqp://ridge:***@controller:5672/%2f".into(),
        amqp_url_sealed: "sealed:v1:never-shown".into(),
        source: crate::EventSource::Exchange {
            exchange: "nova".into(),
            binding_keys: vec!["notifications.info".into()],
        },
        options: DeliveryOptions {
            prefetch: 8,
            max_retries: 5,
            retry_backoff_ms: 500,
            dead_letter_exchange: Some(String::new()),
            dead_letter_routing_key: Some("ridge.failed".into()),
            reply_exchange: None,
        },
        event_types: vec!["compute.instance.create.end".into()],
        paused: false,
        state: crate::TriggerState::Reconnecting,
        last_error: Some("broker: connection refused".into()),
        created_at: at(7_000_000),
        updated_at: Some(at(7_000_100)),
    };
    let queue = crate::EventTrigger {
        id: fixed_id(0x11),
        target: Target::Function {
            id: function().id,
            version: 2,
        },
        description: None,
        source: crate::EventSource::Queue("orders".into()),
        options: DeliveryOptions::default(),
        event_types: Vec::new(),
        paused: true,
        state: crate::TriggerState::Active,
        last_error: None,
        updated_at: None,
        ..notifications.clone()
    };
    assert_json_snapshot!(
        "event_trigger_list",
        EventTriggerList {
            event_triggers: vec![
                EventTriggerView::new(&notifications),
                EventTriggerView::new(&queue)
            ],
        }
    );
}
