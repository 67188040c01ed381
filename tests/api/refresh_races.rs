//! Refresh rotation racing logout-all: once logout-all has answered, the refresh
//! chain dies within one refresh (the one already in flight, at most).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn logout_all_kills_a_refreshing_chain_within_one_refresh() {
    let app = spawn_app().await;
    let owner = app.user("racer").await;
    for trial in 0..10u64 {
        let pair = expect_json(app.login("racer", PASSWORD).await, StatusCode::OK).await;
        let access = pair["access_token"].as_str().expect("access").to_owned();
        let first = pair["refresh_token"].as_str().expect("refresh").to_owned();
        let logged_out = AtomicBool::new(false);

        let refresher = async {
            let mut token = first;
            let mut last_access = None;
            // Successes that ended after logout-all answered, and ones that began
            // after it.
            let (mut ended_after, mut began_after) = (0, 0);
            for _ in 0..5_000 {
                let began = logged_out.load(Ordering::SeqCst);
                let resp = app.refresh(&token).await;
                if resp.status() != StatusCode::OK {
                    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "trial {trial}");
                    break;
                }
                let body = expect_json(resp, StatusCode::OK).await;
                token = body["refresh_token"].as_str().expect("refresh").to_owned();
                last_access = body["access_token"].as_str().map(str::to_owned);
                if logged_out.load(Ordering::SeqCst) {
                    ended_after += 1;
                }
                if began {
                    began_after += 1;
                }
            }
            (token, last_access, ended_after, began_after)
        };
        let logout = async {
            tokio::time::sleep(Duration::from_millis(5 + trial * 7)).await;
            let resp = app
                .post("/api/v1/auth/logout-all", Some(&access), json!({}))
                .await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT, "trial {trial}");
            logged_out.store(true, Ordering::SeqCst);
        };
        let ((token, last_access, ended_after, began_after), ()) = tokio::join!(refresher, logout);

        assert!(
            logged_out.load(Ordering::SeqCst),
            "trial {trial}: logout-all answered"
        );
        assert_eq!(
            began_after, 0,
            "trial {trial}: a refresh that began after logout-all succeeded"
        );
        assert!(
            ended_after <= 1,
            "trial {trial}: {ended_after} refreshes succeeded after logout-all"
        );
        // Whatever the chain last produced is dead too.
        let code = expect_error(app.refresh(&token).await, StatusCode::UNAUTHORIZED).await;
        assert!(
            code == "invalid_token" || code == "refresh_token_reused",
            "{code}"
        );
        if let Some(access) = last_access {
            let me = app.get("/api/v1/users/me", Some(&access)).await;
            assert_eq!(me.status(), StatusCode::UNAUTHORIZED, "trial {trial}");
        }
    }
    // The owner's own first session died with the first logout-all.
    let me = app.get("/api/v1/users/me", Some(&owner.access)).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_refresh_token_minted_before_logout_all_is_refused_even_if_not_revoked() {
    let app = spawn_app().await;
    let user = app.user("stale").await;
    // Simulate a token that escaped the revocation sweep: bump the version only.
    app.state
        .store
        .users
        .bump_token_version(&confab::ids::UserId::from_trusted(user.id.clone()))
        .await
        .expect("bump");
    let code = expect_error(app.refresh(&user.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_token");
}
