//! Message search (issue 22): `GET /api/v1/search/messages`. The index follows
//! sends within about a second, so a test waits (with a deadline) until a
//! member finds a message before it checks who else can; access, deletions and
//! edits are decided at query time and hold at once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster::{joined, two_nodes};
use crate::helpers::*;

/// How long the index may take to follow (its lag is about 0.2 s).
const INDEXED_WITHIN: Duration = Duration::from_secs(15);

impl TestApp {
    /// One search page, as the server answers it.
    pub async fn search(&self, who: &Session, params: &[(&str, &str)]) -> reqwest::Response {
        let url = reqwest::Url::parse_with_params(&self.url("/api/v1/search/messages"), params)
            .expect("url");
        self.http
            .get(url)
            .bearer_auth(&who.access)
            .send()
            .await
            .expect("request")
    }

    /// The bodies `who` finds for `q` (a 200 is expected).
    pub async fn found(&self, who: &Session, q: &str) -> Vec<String> {
        let page = expect_json(self.search(who, &[("q", q)]).await, StatusCode::OK).await;
        found_bodies(&page)
    }

    /// Waits until `who` finds exactly `want` for `q` (newest first).
    pub async fn until_found(&self, who: &Session, q: &str, want: &[&str]) {
        self.until_search(who, &[("q", q)], want).await;
    }

    /// Waits until the first page of `who`'s search with `params` is exactly
    /// `want` (bodies, newest first).
    pub async fn until_search<S: AsRef<str>>(&self, who: &Session, params: Params<'_>, want: &[S]) {
        let want: Vec<&str> = want.iter().map(AsRef::as_ref).collect();
        let deadline = tokio::time::Instant::now() + INDEXED_WITHIN;
        loop {
            let page = expect_json(self.search(who, params).await, StatusCode::OK).await;
            let found = found_bodies(&page);
            if found == want {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{params:?} never found {want:?} (last: {found:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A request's query parameters.
type Params<'a> = &'a [(&'a str, &'a str)];

fn found_bodies(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|hit| {
            hit["message"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn leave(app: &TestApp, who: &Session, group: &str) {
    let left = app
        .post(
            &format!("/api/v1/groups/{group}/leave"),
            Some(&who.access),
            json!({}),
        )
        .await;
    assert!(left.status().is_success(), "{}", left.status());
}

#[tokio::test]
async fn a_word_is_found_by_those_who_may_read_it_and_nobody_else() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let g = app.group(&alice, "Private", "private").await;
    let added = app.set_member(&alice, &g, &bob, "member").await;
    assert!(added.status().is_success(), "{}", added.status());
    let dm = app.dm(&alice, &dave).await;
    app.said(&alice, &g, "the zebracorn plan").await;
    app.said(&alice, &dm, "a dmsecret for dave").await;

    app.until_found(&bob, "zebracorn", &["the zebracorn plan"])
        .await;
    app.until_found(&dave, "dmsecret", &["a dmsecret for dave"])
        .await;
    app.until_found(&alice, "dmsecret", &["a dmsecret for dave"])
        .await;
    // Indexed, and still not found by a non-member or a DM outsider.
    assert!(app.found(&carol, "zebracorn").await.is_empty());
    assert!(app.found(&carol, "dmsecret").await.is_empty());
    assert!(app.found(&bob, "dmsecret").await.is_empty());
    // Naming the conversation does not help: 404 as its history is.
    let named = app
        .search(&carol, &[("q", "zebracorn"), ("conversation", &g)])
        .await;
    assert_eq!(
        expect_error(named, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    let named = app
        .search(&bob, &[("q", "dmsecret"), ("conversation", &dm)])
        .await;
    assert_eq!(
        expect_error(named, StatusCode::NOT_FOUND).await,
        "not_found"
    );

    // A member who leaves finds nothing of the group, at once.
    leave(&app, &bob, &g).await;
    assert!(app.found(&bob, "zebracorn").await.is_empty());
    // Nor does one who is removed.
    let erin = app.user("erin").await;
    let added = app.set_member(&alice, &g, &erin, "member").await;
    assert!(added.status().is_success(), "{}", added.status());
    app.until_found(&erin, "zebracorn", &["the zebracorn plan"])
        .await;
    let removed = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/groups/{g}/members/{}", erin.id),
            Some(&alice.access),
            None,
        )
        .await;
    assert!(removed.status().is_success(), "{}", removed.status());
    assert!(app.found(&erin, "zebracorn").await.is_empty());
}

#[tokio::test]
async fn deleted_and_edited_messages_match_only_what_they_say_now() {
    let (app, alice, bob, g) = room().await;
    let sent = app.said(&alice, &g, "an oldword here").await;
    let id = sent["id"].as_str().expect("id").to_owned();
    app.until_found(&bob, "oldword", &["an oldword here"]).await;

    let edited = app
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/messages/{id}"),
            Some(&alice.access),
            Some(json!({ "body": "a newword here" })),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    // The old word stops matching at once; the new one within the lag.
    assert!(app.found(&bob, "oldword").await.is_empty());
    app.until_found(&bob, "newword", &["a newword here"]).await;

    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{id}"),
            Some(&alice.access),
            None,
        )
        .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    assert!(app.found(&bob, "newword").await.is_empty());
    assert!(app.found(&alice, "here").await.is_empty());
}

#[tokio::test]
async fn words_match_mid_word_prefixes_at_word_starts_phrases_in_order() {
    let (app, alice, bob, g) = room().await;
    for body in [
        "trustworthy builds",
        "東京都に住む",
        "the deployment went fine",
        "we redeploy often",
        "fine went the deployment",
    ] {
        app.said(&alice, &g, body).await;
    }
    // The last one sent is searchable: the index follows in order, so every
    // one before it is too.
    app.until_found(
        &bob,
        "deploy*",
        &["fine went the deployment", "the deployment went fine"],
    )
    .await;
    assert_eq!(app.found(&bob, "東京").await, ["東京都に住む"]);
    assert_eq!(app.found(&bob, "RUST").await, ["trustworthy builds"]);
    assert_eq!(
        app.found(&bob, "\"deployment went\"").await,
        ["the deployment went fine"]
    );
    assert_eq!(app.found(&bob, "deploy often").await, ["we redeploy often"]);

    // Highlights: code point offsets of each match in the body.
    let short = app.search(&bob, &[("q", "都")]).await;
    assert_eq!(
        expect_error(short, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
    let page = expect_json(app.search(&bob, &[("q", "京都")]).await, StatusCode::OK).await;
    assert_eq!(page["items"][0]["highlights"], json!([[1, 3]]), "{page}");
    let page = expect_json(
        app.search(&bob, &[("q", "went fine")]).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        found_bodies(&page),
        ["fine went the deployment", "the deployment went fine"]
    );
    assert_eq!(
        page["items"][1]["highlights"],
        json!([[15, 19], [20, 24]]),
        "{page}"
    );
}

#[tokio::test]
async fn pages_go_newest_first_with_a_cursor_and_filters_narrow() {
    let (app, alice, bob, g) = room().await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let who = if i % 2 == 0 { &alice } else { &bob };
        sent.push(app.said(who, &g, &format!("needle {i}")).await);
    }
    app.until_found(
        &bob,
        "needle",
        &["needle 4", "needle 3", "needle 2", "needle 1", "needle 0"],
    )
    .await;

    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![("q", "needle".to_owned()), ("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            params.push(("cursor", c.clone()));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = expect_json(app.search(&bob, &params).await, StatusCode::OK).await;
        pages.push(found_bodies(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() < 10, "pages never ended: {pages:?}");
    }
    assert_eq!(
        pages,
        [
            vec!["needle 4", "needle 3"],
            vec!["needle 2", "needle 1"],
            vec!["needle 0"]
        ]
    );

    let by_alice = expect_json(
        app.search(&bob, &[("q", "needle"), ("sender", &alice.id)])
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        found_bodies(&by_alice),
        ["needle 4", "needle 2", "needle 0"]
    );
    let in_room = expect_json(
        app.search(
            &bob,
            &[("q", "needle"), ("conversation", &g), ("limit", "1")],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found_bodies(&in_room), ["needle 4"]);
    // Time bounds: strictly after the second message, strictly before the fourth.
    let at = |i: usize| {
        sent[i]["created_at"]
            .as_str()
            .expect("created_at")
            .to_owned()
    };
    let window = expect_json(
        app.search(
            &bob,
            &[("q", "needle"), ("after", &at(1)), ("before", &at(3))],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let found = found_bodies(&window);
    assert!(
        found.iter().all(|b| b == "needle 2"),
        "only messages strictly between: {found:?}"
    );
}

#[tokio::test]
async fn a_query_cannot_widen_its_scope_and_bad_input_is_a_clean_error() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mallory = app.user("mallory").await;
    let theirs = app.group(&alice, "Theirs", "private").await;
    let mine = app.group(&mallory, "Mine", "private").await;
    app.said(&alice, &theirs, "alpha beta launch codes").await;
    app.said(&mallory, &mine, "marker message").await;
    app.until_found(&alice, "alpha", &["alpha beta launch codes"])
        .await;
    app.until_found(&mallory, "marker", &["marker message"])
        .await;

    // Engine syntax aimed at other fields or at everything is plain text here.
    for q in [
        "alpha".to_owned(),
        format!("conversation:{theirs} alpha"),
        format!("conversation:{theirs}"),
        "alpha OR marker".to_owned(),
        "body:alpha".to_owned(),
        "id:* alpha".to_owned(),
        "reader:* alpha".to_owned(),
        "(alpha) || (beta)".to_owned(),
        "alpha~2 +beta -marker".to_owned(),
        "al*".to_owned(),
        "[a TO z] alpha".to_owned(),
    ] {
        let resp = app.search(&mallory, &[("q", &q)]).await;
        let status = resp.status();
        let page: Value = resp.json().await.expect("json");
        if status == StatusCode::OK {
            assert!(
                found_bodies(&page).iter().all(|b| b == "marker message"),
                "{q:?} widened the scope: {page}"
            );
        } else {
            assert!(status.is_client_error(), "{q:?}: {status} {page}");
        }
    }

    let cases: [(Params, StatusCode, &str); 7] = [
        (
            &[("q", "")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            &[("q", "   ")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            &[("q", "\"open quote")],
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (&[("q", "a*b")], StatusCode::BAD_REQUEST, "bad_request"),
        (
            &[("q", "x")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            &[("q", "marker"), ("cursor", "not-a-cursor")],
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        ),
        (
            &[
                ("q", "marker"),
                ("after", "2030-01-01T00:00:00Z"),
                ("before", "2020-01-01T00:00:00Z"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (params, status, code) in cases {
        let resp = app.search(&mallory, params).await;
        assert_eq!(expect_error(resp, status).await, code, "{params:?}");
    }
    let long = "a".repeat(10_000);
    let resp = app.search(&mallory, &[("q", &long)]).await;
    assert_eq!(
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
    let resp = app
        .search(&mallory, &[("q", "marker"), ("limit", "1000")])
        .await;
    assert_eq!(
        found_bodies(&expect_json(resp, StatusCode::OK).await),
        ["marker message"]
    );
    let anonymous = app.get("/api/v1/search/messages?q=marker", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sent_through_one_node_found_through_the_other() {
    let (a, b) = two_nodes().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Split", "public").await;
    joined(&b, &bob, &g).await;
    a.said(&alice, &g, "crossnode tidings").await;
    b.until_found(&bob, "crossnode", &["crossnode tidings"])
        .await;
    let dm = b.dm(&bob, &alice).await;
    b.said(&bob, &dm, "a crossnode whisper").await;
    a.until_found(&alice, "whisper", &["a crossnode whisper"])
        .await;
    // A removal on one node holds on the other at once.
    let left = b
        .post(
            &format!("/api/v1/groups/{g}/leave"),
            Some(&bob.access),
            json!({}),
        )
        .await;
    assert!(left.status().is_success());
    a.until_search::<&str>(&bob, &[("q", "tidings")], &[]).await;
}

#[tokio::test]
async fn a_deleted_index_directory_is_rebuilt_from_the_database_at_start() {
    let dir = std::env::temp_dir().join(format!("confab-search-{}", uuid::Uuid::new_v4().simple()));
    let first = dir.join("first");
    let app = spawn_app_with(&[
        ("SEARCH_INDEX_DIR", first.to_str().expect("utf-8 path")),
        UNLIMITED_SENDS[0],
        UNLIMITED_SENDS[1],
    ])
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app.group(&alice, "Kept", "public").await;
    joined(&app, &bob, &g).await;
    let dm = app.dm(&alice, &bob).await;
    let mut want = Vec::new();
    for i in 0..300 {
        let conversation = if i % 3 == 0 { &dm } else { &g };
        let body = format!("rebuilt item {i:03}");
        app.said(&alice, conversation, &body).await;
        want.push(body);
    }
    let id = app.said(&alice, &g, "rebuilt but gone").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let gone = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{id}"),
            Some(&alice.access),
            None,
        )
        .await;
    assert!(gone.status().is_success());
    want.reverse();
    let newest: Vec<String> = want.into_iter().take(50).collect();
    let first_page = [("q", "rebuilt"), ("limit", "50")];
    app.until_search(&bob, &first_page, &newest).await;

    // Another node on the same database with an empty index directory (the
    // first one deleted): it reads everything again at start.
    let second = dir.join("second");
    let node = app
        .another_node_with(&[("SEARCH_INDEX_DIR", second.to_str().expect("utf-8 path"))])
        .await;
    node.until_search(&bob, &first_page, &newest).await;
    assert!(
        second
            .join("v1")
            .read_dir()
            .expect("written")
            .next()
            .is_some()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_node_with_search_turned_off_says_so() {
    let app = spawn_app_with(&[("SEARCH_ENABLED", "false")]).await;
    let alice = app.user("alice").await;
    let g = app.group(&alice, "Quiet", "public").await;
    app.said(&alice, &g, "nothing indexed here").await;
    let resp = app.search(&alice, &[("q", "indexed")]).await;
    assert_eq!(
        expect_error(resp, StatusCode::SERVICE_UNAVAILABLE).await,
        "server_busy"
    );
}

#[tokio::test]
async fn an_old_message_read_from_its_history_block_matches_only_what_it_says_now() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let id = app.said(&alice, &g, "an oldword here").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for i in 2..=300 {
        app.said(&alice, &g, &format!("filler {i}")).await;
    }
    // A node that loads the room holds its last two blocks (seqs 129-300):
    // the final check reads seq 1 from its history block, kept in memory.
    let node = app.another_node().await;
    node.until_found(&bob, "oldword", &["an oldword here"])
        .await;

    crate::changes::edit(&node, &alice, &id, "a newword here").await;
    assert!(node.found(&bob, "oldword").await.is_empty());
    node.until_found(&bob, "newword", &["a newword here"]).await;

    crate::changes::delete(&node, &alice, &id).await;
    assert!(node.found(&bob, "newword").await.is_empty());
}
