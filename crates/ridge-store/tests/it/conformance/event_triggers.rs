//! Event triggers: round trips of every field, the consumer's state reports, the count per
//! project, and that a trigger goes with its function.

use ridge_core::event_trigger::DeliveryOptions;
use ridge_core::fixtures::at;
use ridge_core::{EventSource, EventTrigger, EventTriggerId, ProjectId, Target, TriggerState};
use ridge_store::{ProjectScope, Store, StoreError};

use super::fixtures::seed_function;

fn trigger(
    project_id: &ProjectId,
    target: Target,
    source: EventSource,
    created: i64,
) -> EventTrigger {
    EventTrigger {
        id: EventTriggerId::new(),
        project_id: project_id.clone(),
        target,
        description: Some("nova events".into()),
        amqp_url: "amqp://nova:***@rabbit:5672/%2f".into(),
        amqp_url_sealed: "sealed:v1:00ff".into(),
        source,
        options: DeliveryOptions {
            prefetch: 8,
            max_retries: 5,
            retry_backoff_ms: 250,
            dead_letter_exchange: Some(String::new()),
            dead_letter_routing_key: Some("failed".into()),
            reply_exchange: Some("replies".into()),
        },
        event_types: vec!["compute.instance.*.end".into()],
        paused: false,
        state: TriggerState::Starting,
        last_error: None,
        created_at: at(created),
        updated_at: None,
    }
}

pub async fn event_triggers_round_trip_and_go_with_their_function(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let target = Target::Function {
        id: f.id,
        version: 0,
    };
    let mut a = trigger(
        &f.project_id,
        target.clone(),
        EventSource::Exchange {
            exchange: "nova".into(),
            binding_keys: vec!["notifications.info".into(), "notifications.error".into()],
        },
        2,
    );
    let b = trigger(
        &f.project_id,
        Target::Alias("prod".parse().expect("valid")),
        EventSource::Queue("jobs".into()),
        3,
    );
    store.create_event_trigger(&a).await.expect("create a");
    store.create_event_trigger(&b).await.expect("create b");
    assert_eq!(store.get_event_trigger(a.id).await.expect("get"), a);
    assert_eq!(store.get_event_trigger(b.id).await.expect("get"), b);
    assert_eq!(
        store
            .list_event_triggers(&ProjectScope::Project(f.project_id.clone()))
            .await
            .expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store
            .list_event_triggers(&ProjectScope::Project("other".parse().expect("valid")))
            .await
            .expect("list"),
        vec![]
    );
    assert_eq!(
        store
            .count_event_triggers(&f.project_id)
            .await
            .expect("count"),
        2
    );

    a.paused = true;
    a.source = EventSource::Queue("q".into());
    a.event_types.clear();
    a.options = DeliveryOptions::default();
    a.updated_at = Some(at(4));
    store.update_event_trigger(&a).await.expect("update");
    assert_eq!(store.get_event_trigger(a.id).await.expect("get"), a);

    store
        .set_event_trigger_state(a.id, TriggerState::Reconnecting, Some("connection refused"))
        .await
        .expect("report");
    let seen = store.get_event_trigger(a.id).await.expect("get");
    assert_eq!(seen.state, TriggerState::Reconnecting);
    assert_eq!(seen.last_error.as_deref(), Some("connection refused"));
    assert_eq!(seen.updated_at, a.updated_at, "a report is not an update");

    let ghost = trigger(
        &f.project_id,
        Target::Function {
            id: ridge_core::FunctionId::new(),
            version: 0,
        },
        EventSource::Queue("q".into()),
        5,
    );
    assert!(matches!(
        store.create_event_trigger(&ghost).await,
        Err(StoreError::FunctionNotFound { .. })
    ));
    assert!(matches!(
        store.update_event_trigger(&ghost).await,
        Err(StoreError::EventTriggerNotFound { .. } | StoreError::FunctionNotFound { .. })
    ));
    assert!(matches!(
        store
            .set_event_trigger_state(ghost.id, TriggerState::Active, None)
            .await,
        Err(StoreError::EventTriggerNotFound { .. })
    ));

    store.delete_event_trigger(b.id).await.expect("delete");
    assert!(matches!(
        store.delete_event_trigger(b.id).await,
        Err(StoreError::EventTriggerNotFound { .. })
    ));
    store.delete_function(f.id).await.expect("delete function");
    assert!(matches!(
        store.get_event_trigger(a.id).await,
        Err(StoreError::EventTriggerNotFound { .. })
    ));
}
