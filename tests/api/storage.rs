//! The storage layout's premise: an `_id` lookup stays fast however large a
//! collection grows, while a query on any other field reads the whole collection
//! (on FerretDB; on MongoDB without an index on that field too).

use std::time::{Duration, Instant};

use mongodb::bson::{Document, doc};

use crate::helpers::*;

const DOCUMENTS: usize = 20_000;
const LOOKUPS: usize = 20;

#[tokio::test]
async fn an_id_lookup_stays_fast_on_a_large_collection() {
    let app = spawn_app().await;
    let scratch = app.state.store.db.collection::<Document>("scratch");
    let docs: Vec<Document> = (0..DOCUMENTS)
        .map(|i| doc! { "_id": format!("k{i:06}"), "n": i as i64, "pad": "payload" })
        .collect();
    for chunk in docs.chunks(5_000) {
        scratch
            .insert_many(chunk.to_vec())
            .await
            .expect("insert_many");
    }

    let mut by_id: Vec<Duration> = Vec::with_capacity(LOOKUPS);
    for i in 0..LOOKUPS {
        let key = format!("k{:06}", (i * 997) % DOCUMENTS);
        let started = Instant::now();
        let found = scratch.find_one(doc! { "_id": &key }).await.expect("find");
        by_id.push(started.elapsed());
        assert_eq!(
            found.and_then(|d| d.get_str("_id").ok().map(str::to_owned)),
            Some(key)
        );
    }
    by_id.sort();
    let median = by_id[LOOKUPS / 2];

    let started = Instant::now();
    let last = scratch
        .find_one(doc! { "n": (DOCUMENTS - 1) as i64 })
        .await
        .expect("scan");
    let scan = started.elapsed();
    assert!(last.is_some());

    assert!(
        median * 5 <= scan,
        "an _id lookup (median {median:?}) should be at least 5x faster than a scan ({scan:?})"
    );
}
