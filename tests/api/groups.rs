//! Groups, roles and the permission table end to end.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

async fn delete_group(app: &TestApp, who: &Session, g: &str) -> reqwest::Response {
    app.send(
        Method::DELETE,
        &format!("/api/v1/groups/{g}"),
        Some(&who.access),
        None,
    )
    .await
}

async fn remove_member(
    app: &TestApp,
    g: &str,
    actor: &Session,
    target: &Session,
) -> reqwest::Response {
    let path = format!("/api/v1/groups/{g}/members/{}", target.id);
    app.send(Method::DELETE, &path, Some(&actor.access), None)
        .await
}

async fn transfer(app: &TestApp, g: &str, actor: &Session, to: &Session) -> reqwest::Response {
    let path = format!("/api/v1/groups/{g}/transfer");
    app.post(&path, Some(&actor.access), json!({ "user_id": to.id }))
        .await
}

/// A group with one of each kind of actor.
struct Cast {
    app: TestApp,
    group: String,
    owner: Session,
    admin: Session,
    member: Session,
    outsider: Session,
    global_admin: Session,
}

async fn cast(visibility: &str) -> Cast {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let admin = app.user("gadmin").await;
    let member = app.user("member").await;
    let outsider = app.user("outsider").await;
    let global_admin = app.admin("root").await;
    let group = app.group(&owner, "Rustaceans", visibility).await;
    expect_json(
        app.set_member(&owner, &group, &admin, "admin").await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        app.set_member(&owner, &group, &member, "member").await,
        StatusCode::OK,
    )
    .await;
    Cast {
        app,
        group,
        owner,
        admin,
        member,
        outsider,
        global_admin,
    }
}

#[tokio::test]
async fn the_creator_owns_the_group_and_sees_it_in_their_list() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let body =
        json!({ "name": "  Book club ", "description": "Monthly\nreads", "visibility": "private" });
    let group = expect_json(
        app.post("/api/v1/groups", Some(&alice.access), body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(group["name"], "Book club");
    assert_eq!(group["owner_id"], alice.id.as_str());
    assert_eq!(group["member_count"], 1);
    assert_eq!(group["visibility"], "private");
    let mine = expect_json(
        app.get("/api/v1/groups", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine["items"][0]["id"], group["id"]);
    let gid = group["id"].as_str().unwrap();
    let members = expect_json(
        app.get(
            &format!("/api/v1/groups/{gid}/members"),
            Some(&alice.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(members["items"][0]["role"], "owner");
    assert_eq!(members["items"][0]["user"]["username"], "alice");
    assert_eq!(members["items"][0]["online"], false);

    let bad = app
        .post(
            "/api/v1/groups",
            Some(&alice.access),
            json!({ "name": "", "visibility": "secret" }),
        )
        .await;
    expect_error(bad, StatusCode::BAD_REQUEST).await;
    let bad = app
        .post(
            "/api/v1/groups",
            Some(&alice.access),
            json!({ "name": "x".repeat(101) }),
        )
        .await;
    assert_eq!(
        expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
}

#[tokio::test]
async fn discovery_lists_public_groups_only_and_private_groups_are_invisible() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let public = app.group(&alice, "Open", "public").await;
    let private = app.group(&alice, "Secret", "private").await;
    let found = expect_json(
        app.get("/api/v1/groups?discover=true", Some(&bob.access))
            .await,
        StatusCode::OK,
    )
    .await;
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [public.as_str()]);
    expect_json(
        app.get(&format!("/api/v1/groups/{public}"), Some(&bob.access))
            .await,
        StatusCode::OK,
    )
    .await;
    for path in [
        format!("/api/v1/groups/{private}"),
        format!("/api/v1/groups/{private}/members"),
        format!("/api/v1/conversations/{private}/messages"),
    ] {
        assert_eq!(
            expect_error(
                app.get(&path, Some(&bob.access)).await,
                StatusCode::NOT_FOUND
            )
            .await,
            "not_found",
            "{path}"
        );
    }
    assert_eq!(
        expect_error(
            app.post(
                &format!("/api/v1/groups/{private}/join"),
                Some(&bob.access),
                json!({})
            )
            .await,
            StatusCode::NOT_FOUND
        )
        .await,
        "not_found"
    );
    let joined = expect_json(
        app.post(
            &format!("/api/v1/groups/{public}/join"),
            Some(&bob.access),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(joined["member_count"], 2);
    let again = expect_json(
        app.post(
            &format!("/api/v1/groups/{public}/join"),
            Some(&bob.access),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["member_count"], 2, "joining twice is idempotent");
}

#[tokio::test]
async fn the_permission_table_holds_end_to_end() {
    let c = cast("private").await;
    let app = &c.app;
    let g = c.group.as_str();
    let actors = [
        ("outsider", &c.outsider),
        ("member", &c.member),
        ("group admin", &c.admin),
        ("owner", &c.owner),
        ("global admin", &c.global_admin),
    ];
    // Expected status per actor, in the order above.
    let read = [404, 200, 200, 200, 200];
    let send = [404, 201, 201, 201, 403];
    let update = [404, 403, 200, 200, 200];
    let list_members = [404, 200, 200, 200, 200];
    for (i, (name, who)) in actors.iter().enumerate() {
        let got = app.history(who, g, "").await.status().as_u16();
        assert_eq!(got, read[i], "{name} reads history");
        let got = app
            .say(who, g, &format!("hello from {name}"))
            .await
            .status()
            .as_u16();
        assert_eq!(got, send[i], "{name} sends");
        let got = app
            .send(
                Method::PATCH,
                &format!("/api/v1/groups/{g}"),
                Some(&who.access),
                Some(json!({ "description": name })),
            )
            .await
            .status()
            .as_u16();
        assert_eq!(got, update[i], "{name} updates");
        let got = app
            .get(&format!("/api/v1/groups/{g}/members"), Some(&who.access))
            .await
            .status()
            .as_u16();
        assert_eq!(got, list_members[i], "{name} lists members");
    }
    // Managing members: adding a newcomer as a plain member, then as admin.
    let add_member = [404, 403, 200, 200, 200];
    let grant_admin = [404, 403, 403, 200, 200];
    for (i, (name, who)) in actors.iter().enumerate() {
        let newcomer = app.user(&format!("new{i}")).await;
        let got = app
            .set_member(who, g, &newcomer, "member")
            .await
            .status()
            .as_u16();
        assert_eq!(got, add_member[i], "{name} adds a member");
        let other = app.user(&format!("adm{i}")).await;
        let got = app
            .set_member(who, g, &other, "admin")
            .await
            .status()
            .as_u16();
        assert_eq!(got, grant_admin[i], "{name} grants admin");
    }
    // Deleting: members and group admins may not; the owner may (checked last).
    assert_eq!(
        delete_group(app, &c.outsider, g).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete_group(app, &c.member, g).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete_group(app, &c.admin, g).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        delete_group(app, &c.owner, g).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/v1/groups/{g}"), Some(&c.owner.access))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_global_admin_can_delete_any_group() {
    let c = cast("private").await;
    let resp = c
        .app
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{}", c.group),
            Some(&c.global_admin.access),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn group_admins_cannot_touch_the_owner_or_other_admins() {
    let c = cast("public").await;
    let (app, g) = (&c.app, c.group.as_str());
    let other_admin = app.user("otheradmin").await;
    expect_json(
        app.set_member(&c.owner, g, &other_admin, "admin").await,
        StatusCode::OK,
    )
    .await;

    assert_eq!(
        expect_error(
            app.set_member(&c.admin, g, &c.owner, "member").await,
            StatusCode::CONFLICT
        )
        .await,
        "conflict"
    );
    assert_eq!(
        expect_error(
            app.set_member(&c.admin, g, &other_admin, "member").await,
            StatusCode::FORBIDDEN
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        expect_error(
            remove_member(app, g, &c.admin, &c.owner).await,
            StatusCode::CONFLICT
        )
        .await,
        "conflict"
    );
    assert_eq!(
        expect_error(
            remove_member(app, g, &c.admin, &other_admin).await,
            StatusCode::FORBIDDEN
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        expect_error(
            remove_member(app, g, &c.member, &c.admin).await,
            StatusCode::FORBIDDEN
        )
        .await,
        "forbidden"
    );
    assert_eq!(
        expect_error(
            app.set_member(&c.owner, g, &c.member, "owner").await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "validation_failed"
    );
    // The owner takes admin back; anyone may remove themselves.
    let demoted = expect_json(
        app.set_member(&c.owner, g, &other_admin, "member").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(demoted["role"], "member");
    assert_eq!(
        remove_member(app, g, &c.member, &c.member).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        remove_member(app, g, &c.admin, &other_admin).await.status(),
        StatusCode::NO_CONTENT,
        "admins remove plain members"
    );
}

#[tokio::test]
async fn ownership_moves_only_by_transfer_and_the_owner_cannot_leave() {
    let c = cast("public").await;
    let (app, g) = (&c.app, c.group.as_str());
    let leave = app
        .post(
            &format!("/api/v1/groups/{g}/leave"),
            Some(&c.owner.access),
            json!({}),
        )
        .await;
    assert_eq!(expect_error(leave, StatusCode::CONFLICT).await, "conflict");
    assert_eq!(
        transfer(app, g, &c.admin, &c.admin).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        expect_error(
            transfer(app, g, &c.owner, &c.outsider).await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "validation_failed"
    );
    let group = expect_json(transfer(app, g, &c.owner, &c.member).await, StatusCode::OK).await;
    assert_eq!(group["owner_id"], c.member.id.as_str());
    let members = expect_json(
        app.get(
            &format!("/api/v1/groups/{g}/members"),
            Some(&c.member.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let role_of = |id: &str| {
        members["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["id"] == id)
            .map(|m| m["role"].clone())
    };
    assert_eq!(role_of(&c.member.id), Some(json!("owner")));
    assert_eq!(role_of(&c.owner.id), Some(json!("admin")));
    let left = app
        .post(
            &format!("/api/v1/groups/{g}/leave"),
            Some(&c.owner.access),
            json!({}),
        )
        .await;
    assert_eq!(left.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_removed_member_loses_access_at_once() {
    let c = cast("private").await;
    let (app, g) = (&c.app, c.group.as_str());
    app.said(&c.member, g, "before removal").await;
    let resp = app
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{g}/members/{}", c.member.id),
            Some(&c.admin.access),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        expect_error(app.history(&c.member, g, "").await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    assert_eq!(
        expect_error(
            app.say(&c.member, g, "after removal").await,
            StatusCode::NOT_FOUND
        )
        .await,
        "not_found"
    );
    let group = expect_json(
        app.get(&format!("/api/v1/groups/{g}"), Some(&c.owner.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(group["member_count"], 2);
}

#[tokio::test]
async fn deleting_a_group_leaves_no_orphans() {
    let c = cast("public").await;
    let (app, g) = (&c.app, c.group.as_str());
    app.said(&c.member, g, "one").await;
    app.said(&c.owner, g, "two").await;
    app.post(
        &format!("/api/v1/conversations/{g}/read"),
        Some(&c.member.access),
        json!({ "seq": 2 }),
    )
    .await;
    let resp = app
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{g}"),
            Some(&c.owner.access),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let db = &app.state.store.db;
    for (collection, filter) in [
        ("groups", doc! { "_id": g }),
        ("memberships", doc! { "group_id": g }),
        ("conversations", doc! { "_id": g }),
        ("messages", doc! { "conversation_id": g }),
        ("read_markers", doc! { "conversation_id": g }),
    ] {
        let left: Vec<Document> = db
            .collection::<Document>(collection)
            .find(filter)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(left.is_empty(), "{collection} still has {left:?}");
    }
    let mine = expect_json(
        app.get("/api/v1/groups", Some(&c.member.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn malformed_and_unknown_ids_are_404_never_500() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    for id in [
        "nope",
        "000000000000000000000000",
        "%7B%22%24gt%22%3A%22%22%7D",
        "a%00b",
        &"x".repeat(300),
    ] {
        for path in [
            format!("/api/v1/groups/{id}"),
            format!("/api/v1/groups/{id}/members"),
            format!("/api/v1/conversations/{id}/messages"),
            format!("/api/v1/conversations/{id}/presence"),
        ] {
            assert_eq!(
                expect_error(
                    app.get(&path, Some(&alice.access)).await,
                    StatusCode::NOT_FOUND
                )
                .await,
                "not_found",
                "{path}"
            );
        }
        let resp = app
            .send(
                Method::PATCH,
                &format!("/api/v1/messages/{id}"),
                Some(&alice.access),
                Some(json!({ "body": "x" })),
            )
            .await;
        assert_eq!(expect_error(resp, StatusCode::NOT_FOUND).await, "not_found");
    }
}

/// A group has exactly one owner, whatever order its documents were written in:
/// the group's `owner_id` decides. A second `owner` membership (what a node
/// stalled past its cluster lock in a transfer could still write) counts as an
/// admin: it is listed as one and cannot act as the owner.
#[tokio::test]
async fn a_late_owner_membership_does_not_make_a_second_owner() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app.group(&alice, "One owner", "public").await;
    expect_json(
        app.set_member(&alice, &g, &bob, "member").await,
        StatusCode::OK,
    )
    .await;
    app.state
        .store
        .db
        .collection::<mongodb::bson::Document>("memberships")
        .update_one(
            mongodb::bson::doc! { "_id": format!("{g}:{}", bob.id) },
            mongodb::bson::doc! { "$set": { "role": "owner" } },
        )
        .await
        .expect("late write");
    app.state.store.groups.forget_all();

    let members = expect_json(
        app.get(&format!("/api/v1/groups/{g}/members"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    let owners: Vec<&str> = members["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "owner")
        .filter_map(|m| m["user"]["username"].as_str())
        .collect();
    assert_eq!(owners, ["alice"], "{members}");
    // Bob acts as an admin, not as an owner: deleting the group is the owner's.
    let delete = app
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{g}"),
            Some(&bob.access),
            None,
        )
        .await;
    expect_error(delete, StatusCode::FORBIDDEN).await;
    // The real owner still transfers; the stale membership is tidied on the way.
    let transferred = app
        .post(
            &format!("/api/v1/groups/{g}/transfer"),
            Some(&alice.access),
            json!({ "user_id": bob.id }),
        )
        .await;
    let group = expect_json(transferred, StatusCode::OK).await;
    assert_eq!(group["owner_id"], bob.id.as_str());
}

/// The fence under every membership write: a change decided on a state that
/// changed meanwhile (what a node that stalled past its lock would write when it
/// wakes) is a compare-and-set that finds the state changed, and writes nothing.
/// The decisions are replayed through the store as the stalled node made them.
#[tokio::test]
async fn a_membership_change_decided_on_a_stale_state_writes_nothing() {
    use confab::ids::{GroupId, UserId};
    use confab::permissions::GroupRole;

    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let g = app.group(&alice, "Fenced", "public").await;
    for who in [&bob, &carol] {
        expect_json(
            app.set_member(&alice, &g, who, "member").await,
            StatusCode::OK,
        )
        .await;
    }
    let group = GroupId::from_trusted(g.clone());
    let (bob_id, carol_id) = (
        UserId::from_trusted(bob.id.clone()),
        UserId::from_trusted(carol.id.clone()),
    );
    let store = &app.state.store.groups;

    // The stalled node saw bob as a member; meanwhile he became an admin.
    expect_json(
        app.set_member(&alice, &g, &bob, "admin").await,
        StatusCode::OK,
    )
    .await;
    assert!(
        !store
            .remove_member(&group, &bob_id, GroupRole::Member)
            .await
            .expect("write"),
        "a removal decided on 'member' must not remove an admin"
    );
    assert!(
        store
            .set_member_role(&group, &bob_id, GroupRole::Member, GroupRole::Member)
            .await
            .expect("write")
            .is_none(),
        "a role change decided on 'member' must not demote an admin"
    );
    // The stalled node saw bob as the owner (a transfer to carol it decided for
    // him); alice still owns the group.
    assert!(
        !store
            .set_owner(&group, &bob_id, &carol_id)
            .await
            .expect("write"),
        "a transfer decided for a former owner must not move the ownership"
    );

    let members = expect_json(
        app.get(&format!("/api/v1/groups/{g}/members"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    let roles: Vec<(String, String)> = members["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["user"]["username"].as_str().unwrap_or("?").to_owned(),
                m["role"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("alice".to_owned(), "owner".to_owned()),
            ("bob".to_owned(), "admin".to_owned()),
            ("carol".to_owned(), "member".to_owned()),
        ],
        "{members}"
    );
    let found = expect_json(
        app.get(&format!("/api/v1/groups/{g}"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["owner_id"], alice.id.as_str());

    // A decision on the current state still writes.
    assert!(
        store
            .remove_member(&group, &carol_id, GroupRole::Member)
            .await
            .expect("write")
    );
}

async fn member_count(app: &TestApp, who: &Session, g: &str) -> i64 {
    let group = expect_json(
        app.get(&format!("/api/v1/groups/{g}"), Some(&who.access))
            .await,
        StatusCode::OK,
    )
    .await;
    group["member_count"].as_i64().expect("member_count")
}

/// The member count is stored (showing a group scans no memberships) and
/// stays exact under concurrent joins and leaves: each is a compare-and-set on
/// the count read (FerretDB's `$inc` is a read-modify-write).
#[tokio::test]
async fn concurrent_joins_and_leaves_leave_the_exact_member_count() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let g = app.group(&owner, "Counted", "public").await;
    let mut users = Vec::new();
    for i in 0..16 {
        users.push(app.user(&format!("joiner{i}")).await);
    }
    let join = format!("/api/v1/groups/{g}/join");
    let joins = users
        .iter()
        .map(|u| app.post(&join, Some(&u.access), json!({})));
    for resp in futures_util::future::join_all(joins).await {
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert_eq!(member_count(&app, &owner, &g).await, 17);
    let leave = format!("/api/v1/groups/{g}/leave");
    let leaves = users
        .iter()
        .take(6)
        .map(|u| app.post(&leave, Some(&u.access), json!({})));
    for resp in futures_util::future::join_all(leaves).await {
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(member_count(&app, &owner, &g).await, 11);
    let stored = app
        .state
        .store
        .db
        .collection::<Document>("groups")
        .find_one(doc! { "_id": &g })
        .await
        .expect("read the group")
        .expect("the group");
    assert_eq!(stored.get_i64("members").ok(), Some(11), "{stored}");
}

/// How a stored member count becomes true again: a count left off (a crash
/// between a membership's write and the count's) is corrected by the sweep's
/// recount, and a group stored before counts were is counted when read.
#[tokio::test]
async fn a_member_count_left_off_by_a_crash_is_recounted_and_an_old_group_counted() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let bob = app.user("bob").await;
    let g = app.group(&owner, "Recounted", "public").await;
    let joined = app
        .post(
            &format!("/api/v1/groups/{g}/join"),
            Some(&bob.access),
            json!({}),
        )
        .await;
    assert_eq!(joined.status(), StatusCode::OK);
    let groups = app.state.store.db.collection::<Document>("groups");
    groups
        .update_one(doc! { "_id": &g }, doc! { "$set": { "members": 7_i64 } })
        .await
        .expect("leave the count off");
    let corrected = app
        .state
        .store
        .groups
        .recount_members()
        .await
        .expect("recount");
    assert_eq!(corrected, 1);
    assert_eq!(member_count(&app, &owner, &g).await, 2);

    groups
        .update_one(doc! { "_id": &g }, doc! { "$unset": { "members": "" } })
        .await
        .expect("a group from before counts");
    app.state
        .store
        .groups
        .reread(&confab::ids::GroupId::from_trusted(g.as_str()));
    assert_eq!(member_count(&app, &owner, &g).await, 2);
    let stored = groups
        .find_one(doc! { "_id": &g })
        .await
        .expect("read the group")
        .expect("the group");
    assert_eq!(
        stored.get_i64("members").ok(),
        Some(2),
        "stored once counted"
    );
}
