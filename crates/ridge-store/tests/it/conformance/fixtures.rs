//! What only the store suite adds to the shared domain fixtures (`ridge_core::fixtures`): a
//! stored runtime and function in one call.

use ridge_core::Function;
use ridge_core::fixtures::{function, runtime};
use ridge_store::Store;

/// A stored runtime and function of `project_id`.
pub async fn seed_function(store: &dyn Store, project_id: &str, created: i64) -> Function {
    let rt = runtime(project_id, false, created);
    store.create_runtime(&rt).await.expect("create runtime");
    let f = function(project_id, rt.id, created);
    store.create_function(&f).await.expect("create function");
    f
}
