//! `list_executions` filters: every operator on every filterable column.

use ridge_core::fixtures::{execution, project};
use ridge_core::{Execution, ExecutionId, ExecutionStatus, Filter, FilterOp, Function};
use ridge_store::{ExecutionOutcome, ExecutionQuery, Page, ProjectScope, Store, StoreError};

use super::fixtures::seed_function;

/// A query with no filter.
pub fn all_of(scope: ProjectScope) -> ExecutionQuery {
    ExecutionQuery {
        scope,
        function_id: None,
        status: None,
        description: None,
        page: Page::default(),
    }
}

fn filter(op: FilterOp, values: &[&str]) -> Filter {
    Filter {
        op,
        values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

/// Executions with every status and tricky descriptions, in creation order.
struct Fixture {
    f: Function,
    g: Function,
    /// f: success, "job a"
    e1: Execution,
    /// f: failed, "50% done"
    e2: Execution,
    /// f: running, no description
    e3: Execution,
    /// g: error, "job_b"
    e4: Execution,
    /// g: success, "500 items"
    e5: Execution,
    /// f: failed, "jobxb"
    e6: Execution,
}

async fn fixture(store: &dyn Store) -> Fixture {
    let f = seed_function(store, "p1", 1).await;
    let g = seed_function(store, "p1", 2).await;
    let make = |func: &Function, n: i64, status: ExecutionStatus, description: Option<&str>| {
        let mut e = execution(func, 10 * n);
        e.status = status;
        e.description = description.map(str::to_owned);
        e
    };
    let fx = Fixture {
        e1: make(&f, 1, ExecutionStatus::Success, Some("job a")),
        e2: make(&f, 2, ExecutionStatus::Failed, Some("50% done")),
        e3: make(&f, 3, ExecutionStatus::Running, None),
        e4: make(&g, 4, ExecutionStatus::Error, Some("job_b")),
        e5: make(&g, 5, ExecutionStatus::Success, Some("500 items")),
        e6: make(&f, 6, ExecutionStatus::Failed, Some("jobxb")),
        f,
        g,
    };
    for e in [&fx.e1, &fx.e2, &fx.e3, &fx.e4, &fx.e5, &fx.e6] {
        store.create_execution(e).await.expect("create");
    }
    fx
}

async fn ids(store: &dyn Store, query: ExecutionQuery) -> Vec<ExecutionId> {
    store
        .list_executions(&query)
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.id)
        .collect()
}

fn by_status(f: Filter) -> ExecutionQuery {
    ExecutionQuery {
        status: Some(f),
        ..all_of(ProjectScope::All)
    }
}

fn by_description(f: Filter) -> ExecutionQuery {
    ExecutionQuery {
        description: Some(f),
        ..all_of(ProjectScope::All)
    }
}

fn by_function(f: Filter) -> ExecutionQuery {
    ExecutionQuery {
        function_id: Some(f),
        ..all_of(ProjectScope::All)
    }
}

pub async fn eq_and_neq(store: &dyn Store) {
    let fx = fixture(store).await;
    assert_eq!(
        ids(store, by_status(Filter::eq("success"))).await,
        vec![fx.e1.id, fx.e5.id]
    );
    assert_eq!(
        ids(store, by_status(filter(FilterOp::Neq, &["success"]))).await,
        vec![fx.e2.id, fx.e3.id, fx.e4.id, fx.e6.id]
    );
    assert_eq!(
        ids(store, by_description(Filter::eq("job a"))).await,
        vec![fx.e1.id]
    );
    // An execution without a description is not equal to any description.
    assert_eq!(
        ids(store, by_description(filter(FilterOp::Neq, &["job a"]))).await,
        vec![fx.e2.id, fx.e3.id, fx.e4.id, fx.e5.id, fx.e6.id]
    );
    assert_eq!(
        ids(store, by_function(Filter::eq(fx.g.id.to_string()))).await,
        vec![fx.e4.id, fx.e5.id]
    );
    // Ids match whatever their spelling.
    assert_eq!(
        ids(
            store,
            by_function(Filter::eq(fx.g.id.to_string().to_uppercase()))
        )
        .await,
        vec![fx.e4.id, fx.e5.id]
    );
    assert!(
        ids(store, by_status(Filter::eq("nonsense")))
            .await
            .is_empty()
    );
    // Statuses other than success are looked up in a partial index (migration 0012).
    assert_eq!(
        ids(store, by_status(Filter::eq("failed"))).await,
        vec![fx.e2.id, fx.e6.id]
    );
    assert_eq!(
        ids(store, by_status(Filter::eq("running"))).await,
        vec![fx.e3.id]
    );
}

pub async fn in_and_nin(store: &dyn Store) {
    let fx = fixture(store).await;
    assert_eq!(
        ids(
            store,
            by_status(filter(FilterOp::In, &["success", "error"]))
        )
        .await,
        vec![fx.e1.id, fx.e4.id, fx.e5.id]
    );
    assert_eq!(
        ids(
            store,
            by_status(filter(FilterOp::In, &["running", "error"]))
        )
        .await,
        vec![fx.e3.id, fx.e4.id]
    );
    assert_eq!(
        ids(
            store,
            by_status(filter(FilterOp::Nin, &["success", "error"]))
        )
        .await,
        vec![fx.e2.id, fx.e3.id, fx.e6.id]
    );
    assert_eq!(
        ids(
            store,
            by_description(filter(FilterOp::Nin, &["job a", "jobxb"]))
        )
        .await,
        vec![fx.e2.id, fx.e3.id, fx.e4.id, fx.e5.id]
    );
    let both = [fx.f.id.to_string(), fx.g.id.to_string()];
    let both: Vec<&str> = both.iter().map(String::as_str).collect();
    assert_eq!(
        ids(store, by_function(filter(FilterOp::In, &both)))
            .await
            .len(),
        6
    );
    assert!(
        ids(store, by_function(filter(FilterOp::Nin, &both)))
            .await
            .is_empty()
    );
    // An empty list: nothing is in it, everything is outside it.
    assert!(
        ids(store, by_status(filter(FilterOp::In, &[])))
            .await
            .is_empty()
    );
    assert_eq!(
        ids(store, by_status(filter(FilterOp::Nin, &[])))
            .await
            .len(),
        6
    );
}

pub async fn ordering_operators(store: &dyn Store) {
    let fx = fixture(store).await;
    // Statuses compare as text: error < failed < running < success.
    assert_eq!(
        ids(store, by_status(filter(FilterOp::Gt, &["failed"]))).await,
        vec![fx.e1.id, fx.e3.id, fx.e5.id]
    );
    assert_eq!(
        ids(store, by_status(filter(FilterOp::Gte, &["failed"]))).await,
        vec![fx.e1.id, fx.e2.id, fx.e3.id, fx.e5.id, fx.e6.id]
    );
    assert_eq!(
        ids(store, by_status(filter(FilterOp::Lt, &["running"]))).await,
        vec![fx.e2.id, fx.e4.id, fx.e6.id]
    );
    assert_eq!(
        ids(store, by_status(filter(FilterOp::Lte, &["running"]))).await,
        vec![fx.e2.id, fx.e3.id, fx.e4.id, fx.e6.id]
    );
    assert_eq!(
        ids(store, by_description(filter(FilterOp::Lt, &["job"]))).await,
        vec![fx.e2.id, fx.e5.id]
    );
}

pub async fn has_matches_substrings_literally(store: &dyn Store) {
    let fx = fixture(store).await;
    // `%` and `_` are literal: "50%" must not match "500 items", "job_" must not match "jobxb".
    assert_eq!(
        ids(store, by_description(filter(FilterOp::Has, &["50%"]))).await,
        vec![fx.e2.id]
    );
    assert_eq!(
        ids(store, by_description(filter(FilterOp::Has, &["job_"]))).await,
        vec![fx.e4.id]
    );
    assert_eq!(
        ids(store, by_description(filter(FilterOp::Has, &["job"]))).await,
        vec![fx.e1.id, fx.e4.id, fx.e6.id]
    );
    // Case does not matter (ASCII at least), on every store.
    assert_eq!(
        ids(store, by_description(filter(FilterOp::Has, &["JOB"]))).await,
        vec![fx.e1.id, fx.e4.id, fx.e6.id]
    );
    assert_eq!(
        ids(store, by_description(filter(FilterOp::Has, &["0"]))).await,
        vec![fx.e2.id, fx.e5.id]
    );
    assert!(
        ids(store, by_description(filter(FilterOp::Has, &["\\"])))
            .await
            .is_empty()
    );
    assert!(
        ids(store, by_description(filter(FilterOp::Has, &["%%"])))
            .await
            .is_empty()
    );
}

pub async fn filters_combine_with_scope(store: &dyn Store) {
    let fx = fixture(store).await;
    let other = seed_function(store, "p2", 3).await;
    let mut foreign = execution(&other, 100);
    foreign.status = ExecutionStatus::Success;
    foreign.description = Some("job a".into());
    store.create_execution(&foreign).await.expect("create");

    let query = ExecutionQuery {
        scope: ProjectScope::Project(project("p1")),
        function_id: Some(Filter::eq(fx.f.id.to_string())),
        status: Some(filter(FilterOp::In, &["success", "failed"])),
        description: Some(filter(FilterOp::Has, &["job"])),
        page: Page::default(),
    };
    assert_eq!(ids(store, query).await, vec![fx.e1.id, fx.e6.id]);

    let own = ExecutionQuery {
        scope: ProjectScope::Project(project("p1")),
        ..by_description(Filter::eq("job a"))
    };
    assert_eq!(ids(store, own).await, vec![fx.e1.id]);
    let everyone = by_description(Filter::eq("job a"));
    assert_eq!(ids(store, everyone).await, vec![fx.e1.id, foreign.id]);

    // Finishing changes what a status filter sees.
    assert!(
        store
            .finish_execution(
                fx.e3.id,
                &ExecutionOutcome {
                    status: ExecutionStatus::Success,
                    result: ridge_core::ExecutionResult::new(0.1, serde_json::json!(null)),
                    logs: String::new(),
                }
            )
            .await
            .expect("finish")
            .is_some()
    );
    assert_eq!(
        ids(store, by_status(Filter::eq("running"))).await,
        Vec::<ExecutionId>::new()
    );
}

pub async fn single_valued_operators_reject_lists(store: &dyn Store) {
    fixture(store).await;
    for op in [FilterOp::Eq, FilterOp::Gt, FilterOp::Has] {
        let err = store
            .list_executions(&by_status(filter(op, &["a", "b"])))
            .await
            .expect_err("two values");
        assert!(
            matches!(
                err,
                StoreError::InvalidFilter {
                    column: "status",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

/// Pages follow the list's order (`created_at`, then `id`), start after their marker, hold at
/// most `limit` items, and compose with filters and scope.
pub async fn pages_follow_the_order_from_their_marker(store: &dyn Store) {
    let fx = fixture(store).await;
    // Two executions created at the same instant are ordered by id.
    let mut twin_a = execution(&fx.f, 55);
    let mut twin_b = execution(&fx.f, 55);
    if twin_b.id.to_string() < twin_a.id.to_string() {
        std::mem::swap(&mut twin_a, &mut twin_b);
    }
    store.create_execution(&twin_b).await.expect("create");
    store.create_execution(&twin_a).await.expect("create");
    let everything = ids(store, all_of(ProjectScope::All)).await;
    assert_eq!(
        everything,
        vec![
            fx.e1.id, fx.e2.id, fx.e3.id, fx.e4.id, fx.e5.id, twin_a.id, twin_b.id, fx.e6.id
        ]
    );

    // Walking pages of three visits every execution once, in order.
    let mut walked = Vec::new();
    let mut marker = None;
    loop {
        let page = ids(
            store,
            ExecutionQuery {
                page: Page {
                    limit: Some(3),
                    marker,
                },
                ..all_of(ProjectScope::All)
            },
        )
        .await;
        assert!(page.len() <= 3, "{page:?}");
        let Some(last) = page.last().copied() else {
            break;
        };
        walked.extend(page);
        marker = Some(last);
    }
    assert_eq!(walked, everything);

    // With a filter: failed executions after e2.
    let failed_after = ExecutionQuery {
        page: Page {
            limit: Some(10),
            marker: Some(fx.e2.id),
        },
        ..by_status(Filter::eq("failed"))
    };
    assert_eq!(ids(store, failed_after).await, vec![fx.e6.id]);
    // A marker that names no execution gives an empty page, never the whole list.
    let unknown = ExecutionQuery {
        page: Page {
            limit: None,
            marker: Some(ExecutionId::new()),
        },
        ..all_of(ProjectScope::All)
    };
    assert!(ids(store, unknown).await.is_empty());
}
