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

    // A compare-and-set filter ({_id, and a field}) reads by the index too
    // (scripts/db's second patch): the fence under membership writes.
    let mut by_id_and_more: Vec<Duration> = Vec::with_capacity(LOOKUPS);
    for i in 0..LOOKUPS {
        let n = (i * 991) % DOCUMENTS;
        let key = format!("k{n:06}");
        let started = Instant::now();
        let found = scratch
            .find_one(doc! { "_id": &key, "n": n as i64 })
            .await
            .expect("find");
        by_id_and_more.push(started.elapsed());
        assert!(found.is_some());
        let other = scratch
            .find_one(doc! { "_id": &key, "n": n as i64 + 1 })
            .await
            .expect("find");
        assert!(other.is_none(), "the rest of the filter still applies");
    }
    by_id_and_more.sort();
    let median_and_more = by_id_and_more[LOOKUPS / 2];

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
    assert!(
        median_and_more * 5 <= scan,
        "an _id lookup with one more condition (median {median_and_more:?}) should be at least 5x faster than a scan ({scan:?})"
    );
}

/// Data written before usernames and membership ids were `_id`-keyed is brought
/// over at start-up, once: old users still log in, old members keep their role
/// and their place in the member list.
#[tokio::test]
async fn start_up_migrates_usernames_and_membership_ids() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app.group(&alice, "Old", "public").await;
    let joined = app
        .post(
            &format!("/api/v1/groups/{g}/join"),
            Some(&bob.access),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(joined.status(), reqwest::StatusCode::OK);

    // Rewind the data to the old layout.
    let db = app.state.store.db.clone();
    db.collection::<Document>("migrations")
        .delete_many(doc! {})
        .await
        .expect("forget migrations");
    db.collection::<Document>("usernames")
        .delete_one(doc! { "_id": "bob" })
        .await
        .expect("drop username");
    let members = db.collection::<Document>("memberships");
    let mut legacy_ids = Vec::new();
    for user in [&alice.id, &bob.id] {
        let id = format!("{g}:{user}");
        let mut membership = members
            .find_one(doc! { "_id": &id })
            .await
            .expect("find")
            .expect("membership");
        members
            .delete_one(doc! { "_id": &id })
            .await
            .expect("delete");
        let old_id = mongodb::bson::oid::ObjectId::new().to_hex();
        membership.insert("_id", &old_id);
        membership.remove("joined_key");
        members.insert_one(membership).await.expect("insert old");
        legacy_ids.push(old_id);
    }

    // A node starting on that data.
    let store = confab::store::Store::new(db, Default::default());
    store.ensure_indexes().await.expect("migrate");
    store.ensure_indexes().await.expect("idempotent");
    let found = store.users.by_username("bob").await.expect("lookup");
    assert_eq!(found.map(|u| u.id.into_inner()), Some(bob.id.clone()));
    let membership = store
        .groups
        .membership(
            &confab::ids::GroupId::from_trusted(g.clone()),
            &confab::ids::UserId::from_trusted(bob.id.clone()),
        )
        .await
        .expect("lookup")
        .expect("still a member");
    assert_eq!(membership.id, format!("{g}:{}", bob.id));
    assert_eq!(membership.joined_key, legacy_ids[1]);
    let page = store
        .groups
        .members_page(&confab::ids::GroupId::from_trusted(g.clone()), None, 10)
        .await
        .expect("page");
    let order: Vec<&str> = page.iter().map(|m| m.user_id.as_str()).collect();
    assert_eq!(order, [alice.id.as_str(), bob.id.as_str()]);
    assert_eq!(
        members.count_documents(doc! {}).await.expect("count"),
        2,
        "no copies left behind"
    );
}

/// A registration that died between claiming its username and storing its user
/// does not hold the name forever, but a claim in progress is respected.
#[tokio::test]
async fn a_username_left_by_a_failed_registration_is_released_once_old() {
    let app = spawn_app().await;
    let names = app.state.store.db.collection::<Document>("usernames");
    let old = mongodb::bson::DateTime::from_millis(0);
    names
        .insert_one(doc! { "_id": "ghost", "user_id": "nobody", "claimed_at": old })
        .await
        .expect("orphan");
    names
        .insert_one(doc! { "_id": "busy", "user_id": "pending", "claimed_at": mongodb::bson::DateTime::now() })
        .await
        .expect("claim in progress");
    assert_eq!(
        app.register("ghost").await.status(),
        reqwest::StatusCode::CREATED
    );
    let code = expect_error(app.register("busy").await, reqwest::StatusCode::CONFLICT).await;
    assert_eq!(code, "username_taken");
    let pair = app.login("ghost", PASSWORD).await;
    assert_eq!(pair.status(), reqwest::StatusCode::OK);
}
