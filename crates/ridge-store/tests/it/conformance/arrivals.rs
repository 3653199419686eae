//! Inter-arrival histograms of the keep-alive policy: counts add up across writes (as several
//! nodes' would), the out-of-bounds count is kept, a deleted function's goes with it and one
//! for a function that is gone is not written.

use ridge_core::{ArrivalHistogram, FunctionId};
use ridge_store::Store;

use super::fixtures::seed_function;

async fn stored(store: &dyn Store, id: FunctionId) -> ArrivalHistogram {
    store.arrival_histogram(id).await.expect("read")
}

fn histogram(entries: &[(u16, u64)]) -> ArrivalHistogram {
    let mut h = ArrivalHistogram::default();
    for &(bucket, count) in entries {
        h.add(bucket, count);
    }
    h
}

pub async fn arrival_histograms_add_up_and_go_with_their_function(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let other = seed_function(store, "p1", 2).await;
    assert!(stored(store, f.id).await.is_empty());

    // Two nodes' batches, then an empty one (which writes nothing).
    let node_a = histogram(&[(0, 3), (10, 40), (240, 1)]);
    let node_b = histogram(&[(10, 2), (239, 5)]);
    store.add_arrivals(f.id, &node_a).await.expect("add a");
    store.add_arrivals(f.id, &node_b).await.expect("add b");
    store
        .add_arrivals(f.id, &ArrivalHistogram::default())
        .await
        .expect("add nothing");
    store
        .add_arrivals(other.id, &histogram(&[(5, 1)]))
        .await
        .expect("add other");
    let mut merged = node_a.clone();
    merged.merge(&node_b);
    let now = stored(store, f.id).await;
    assert_eq!(now, merged);
    assert_eq!(
        now.entries().collect::<Vec<_>>(),
        [(0, 3), (10, 42), (239, 5), (240, 1)]
    );
    assert_eq!(now.out_of_bounds(), 1);

    // Every bucket at once: the largest statement the engine writes.
    let full: Vec<_> = (0..=240).map(|b| (b, 1)).collect();
    store
        .add_arrivals(f.id, &histogram(&full))
        .await
        .expect("add full");
    assert_eq!(stored(store, f.id).await.total(), merged.total() + 241);

    store.delete_function(f.id).await.expect("delete");
    assert!(
        stored(store, f.id).await.is_empty(),
        "deleting the function deletes its histogram"
    );
    store
        .add_arrivals(f.id, &node_a)
        .await
        .expect("a late batch of a deleted function is not an error");
    assert!(stored(store, f.id).await.is_empty());
    let never = FunctionId::new();
    store
        .add_arrivals(never, &node_a)
        .await
        .expect("nor of one that never existed");
    assert_eq!(
        stored(store, other.id).await,
        histogram(&[(5, 1)]),
        "another function's is its own"
    );
}
