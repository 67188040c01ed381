//! A user's groups (`user_groups`): "my groups" and search's scope are read
//! from a per-user document (an `_id` lookup) that may list more than the
//! memberships, never fewer; the memberships decide.

use mongodb::bson::{Document, doc};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|g| g["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn listed(app: &TestApp, who: &Session) -> Vec<String> {
    ids(&expect_json(
        app.get("/api/v1/groups", Some(&who.access)).await,
        StatusCode::OK,
    )
    .await)
}

async fn document_of(app: &TestApp, who: &Session) -> Option<Document> {
    app.state
        .store
        .db
        .collection::<Document>("user_groups")
        .find_one(doc! { "_id": who.id.as_str() })
        .await
        .expect("read")
}

#[tokio::test]
async fn an_extra_entry_is_neither_listed_nor_searched_and_is_pruned() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mine = app.group(&alice, "Mine", "public").await;
    let theirs = app.group(&bob, "Theirs", "private").await;
    app.said(&bob, &theirs, "zebracorn secret").await;
    app.said(&alice, &mine, "zebracorn hello").await;
    app.until_found(&bob, "zebracorn", &["zebracorn secret"])
        .await;
    // What a crash between a removal and its `user_groups` update leaves: an
    // entry without a membership.
    app.state
        .store
        .db
        .collection::<Document>("user_groups")
        .update_one(
            doc! { "_id": alice.id.as_str() },
            doc! { "$addToSet": { "groups": theirs.as_str() } },
        )
        .await
        .expect("written");
    // A node with nothing in memory reads the document.
    let node = app.another_node().await;
    assert_eq!(listed(&node, &alice).await, [mine.as_str()]);
    node.until_found(&alice, "zebracorn", &["zebracorn hello"])
        .await;
    // Pruned in the background, under alice's lock.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let groups = document_of(&node, &alice)
            .await
            .and_then(|d| d.get_array("groups").ok().cloned())
            .expect("alice's groups");
        if groups.len() == 1 {
            assert_eq!(groups[0].as_str(), Some(mine.as_str()));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the extra entry was never pruned: {groups:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn joins_leaves_and_a_deleted_group_keep_the_list_exact() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let a = app.group(&alice, "A", "public").await;
    let b = app.group(&alice, "B", "public").await;
    for g in [&a, &b] {
        crate::cluster::joined(&app, &bob, g).await;
    }
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(listed(&app, &bob).await, both);
    let left = app
        .post(
            &format!("/api/v1/groups/{a}/leave"),
            Some(&bob.access),
            serde_json::json!({}),
        )
        .await;
    assert!(left.status().is_success());
    assert_eq!(listed(&app, &bob).await, [b.as_str()]);
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/groups/{b}"),
            Some(&alice.access),
            None,
        )
        .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert!(listed(&app, &bob).await.is_empty());
    assert!(listed(&app.another_node().await, &bob).await.is_empty());
}

#[tokio::test]
async fn a_database_from_before_user_groups_is_filled_at_start() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let g = app.group(&alice, "Old", "public").await;
    app.said(&alice, &g, "quokka archive").await;
    // The database as an older confab left it: memberships, no `user_groups`.
    let db = &app.state.store.db;
    db.collection::<Document>("user_groups")
        .drop()
        .await
        .expect("dropped");
    db.collection::<Document>("migrations")
        .delete_one(doc! { "_id": "user_groups_v1" })
        .await
        .expect("deleted");
    let node = app.another_node().await;
    assert_eq!(listed(&node, &alice).await, [g.as_str()]);
    node.until_found(&alice, "quokka", &["quokka archive"])
        .await;
    assert!(document_of(&node, &alice).await.is_some());
}

#[tokio::test]
async fn concurrent_joins_through_two_nodes_are_all_listed() {
    let (a, b) = crate::cluster::two_nodes().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let mut groups = Vec::new();
    for i in 0..12 {
        groups.push(a.group(&alice, &format!("G{i}"), "public").await);
    }
    // Every join writes bob's one `user_groups` document, at once, from both nodes.
    let joins = groups.iter().enumerate().map(|(i, g)| {
        let node = if i % 2 == 0 { &a } else { &b };
        crate::cluster::joined(node, &bob, g)
    });
    futures_util::future::join_all(joins).await;
    groups.sort();
    let fresh = a.another_node().await;
    assert_eq!(listed(&fresh, &bob).await, groups, "every join is listed");
    let stored = document_of(&fresh, &bob)
        .await
        .and_then(|d| d.get_array("groups").ok().map(Vec::len));
    assert_eq!(stored, Some(groups.len()), "and stored");
}
