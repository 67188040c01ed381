//! Confusable and look-alike names.

use super::*;

#[tokio::test]
async fn confusable_invisible_and_control_characters_in_usernames_are_refused_with_422() {
    let app = spawn_app().await;
    app.user("alice").await;
    for name in [
        "\u{0430}lice",  // Cyrillic а
        "\u{FF41}lice",  // fullwidth ａ
        "al\u{0131}ce",  // dotless ı
        "AL\u{0130}CE",  // dotted İ
        "alice\u{0301}", // combining accent
        "ali\u{200D}ce", // zero-width joiner
        "ali\u{200B}ce", // zero-width space
        "\u{202E}ecila", // right-to-left override
        "alice\u{FEFF}", // byte order mark
        "ali\u{0000}ce", // NUL
        "alice\n",
        "ali ce",
    ] {
        let code = expect_error(app.register(name).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(code, "validation_failed", "{name:?}");
        let login = app.login(name, PASSWORD).await;
        assert!(
            login.status() == StatusCode::UNAUTHORIZED
                || login.status() == StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?} logged in as alice? {}",
            login.status()
        );
    }
}

#[tokio::test]
async fn invisible_and_control_characters_in_display_names_group_names_and_bodies_are_refused() {
    let (app, alice, _bob, g) = room().await;
    for text in [
        "\u{202E}nimda",
        "ad\u{200B}min",
        "ad\u{200D}min",
        "\u{2066}admin\u{2069}",
        "\u{FEFF}",
        "nul\u{0000}byte",
        "bell\u{0007}",
        "esc\u{001B}[31m",
    ] {
        let resp = patch(
            &app,
            "/api/v1/users/me",
            &alice,
            json!({ "display_name": text }),
        )
        .await;
        assert_eq!(
            expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
            "validation_failed",
            "display name {text:?}"
        );
        let resp = app
            .post(
                "/api/v1/groups",
                Some(&alice.access),
                json!({ "name": text }),
            )
            .await;
        assert_eq!(
            expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
            "validation_failed",
            "group name {text:?}"
        );
        assert_eq!(
            expect_error(
                app.say(&alice, &g, text).await,
                StatusCode::UNPROCESSABLE_ENTITY
            )
            .await,
            "validation_failed",
            "body {text:?}"
        );
    }
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert!(bodies(&page).is_empty());
}
