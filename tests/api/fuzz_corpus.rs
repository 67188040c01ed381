//! Replays the committed fuzz corpora (`fuzz/corpus/ws_frame`, `fuzz/corpus/normalize`)
//! under plain `cargo test`, with the same checks the fuzz targets run.
//!
//! This file is the single home of those checks: the targets in `fuzz/fuzz_targets/`
//! include it with `#[path]`, so the fuzzer and this test cannot drift apart.
//! Fuzzing itself needs cargo-fuzz: see `scripts/fuzz`.

use confab::chat::messages::{parse_body, parse_client_id};
use confab::domain::{DisplayName, Password, Username, clean_text};
use confab::limits::{
    CLIENT_ID_MAX_CHARS, DISPLAY_NAME_MAX_CHARS, MAX_FRAME_BYTES, MESSAGE_BODY_MAX_CHARS,
    PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, USERNAME_MAX_CHARS, USERNAME_MIN_CHARS,
};
use confab::realtime::protocol::{ClientFrame, FrameError, parse_client_frame};
use unicode_normalization::{UnicodeNormalization, is_nfc};

/// Longest input given to `Password::parse_new` (zxcvbn is slow on long input).
const PASSWORD_NEW_MAX_INPUT: usize = 64;

/// One WebSocket text frame: parsing never panics, and its result agrees with the JSON.
pub fn check_ws_frame(data: &[u8]) {
    // WebSocket text frames are UTF-8 by definition; other bytes never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_client_frame(text) {
        Err(FrameError::TooLarge) => {
            assert!(
                text.len() > MAX_FRAME_BYTES,
                "TooLarge for {} bytes",
                text.len()
            );
        }
        Err(FrameError::Malformed(reason)) => {
            assert!(text.len() <= MAX_FRAME_BYTES);
            assert!(reason.chars().count() <= 200, "reason too long: {reason:?}");
        }
        Ok(frame) => {
            assert!(text.len() <= MAX_FRAME_BYTES);
            // Anything accepted is a JSON object whose `type` names the variant, and
            // whose fields are the ones the frame holds (no duplicate-key ambiguity).
            let value: serde_json::Value =
                serde_json::from_str(text).expect("an accepted frame is valid JSON");
            let object = value.as_object().expect("an accepted frame is an object");
            let field = |name: &str| object.get(name).and_then(|v| v.as_str());
            let int = |name: &str| object.get(name).and_then(|v| v.as_i64());
            let (kind, conversation) = match &frame {
                ClientFrame::Join(f) => {
                    assert_eq!(f.since, int("since"), "join.since");
                    ("join", Some(&f.conversation))
                }
                ClientFrame::Leave(f) => ("leave", Some(&f.conversation)),
                ClientFrame::Send(f) => {
                    assert_eq!(Some(f.body.as_str()), field("body"), "send.body");
                    assert_eq!(f.client_id.as_deref(), field("client_id"), "send.client_id");
                    ("send", Some(&f.conversation))
                }
                ClientFrame::Typing(f) => ("typing", Some(&f.conversation)),
                ClientFrame::Read(f) => {
                    assert_eq!(Some(f.seq), int("seq"), "read.seq");
                    ("read", Some(&f.conversation))
                }
                ClientFrame::Reauth(f) => {
                    assert_eq!(Some(f.token.as_str()), field("token"), "reauth.token");
                    ("reauth", None)
                }
                ClientFrame::Ping(_) => ("ping", None),
                ClientFrame::React(f) => {
                    assert_eq!(Some(f.message.as_str()), field("message"), "react.message");
                    assert_eq!(Some(f.emoji.as_str()), field("emoji"), "react.emoji");
                    ("react", Some(&f.conversation))
                }
            };
            assert_eq!(field("type"), Some(kind), "type of {frame:?}");
            if let Some(conversation) = conversation {
                assert_eq!(Some(conversation.as_str()), field("conversation"));
            }
        }
    }
}

/// The input as text: invalid UTF-8 is replaced (the API only ever sees valid strings).
fn as_text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// Characters `clean_text` refuses besides control characters (invisible or reordering).
fn is_forbidden_format_char(c: char) -> bool {
    let invisible = [
        0x00AD, 0x061C, 0x115F, 0x1160, 0x180E, 0x200B, 0x200C, 0x200E, 0x200F, 0x2800, 0x3164,
        0xFEFF, 0xFFA0,
    ];
    let ranges = [
        (0x2028, 0x202E),
        (0x2060, 0x2069),
        (0xFFF9, 0xFFFB),
        (0xE0000, 0xE007F),
    ];
    let cp = c as u32;
    invisible.contains(&cp) || ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&cp))
}

/// Model of the joiner rule: a ZWJ needs a non-ASCII, non-ZWJ character on each side.
fn bad_joiner(chars: &[char], i: usize) -> bool {
    let side = |j: Option<usize>| {
        j.and_then(|j| chars.get(j))
            .is_some_and(|c| !c.is_ascii() && *c != '\u{200D}')
    };
    chars[i] == '\u{200D}' && !(side(i.checked_sub(1)) && side(Some(i + 1)))
}

fn check_clean(raw: &str, out: &Result<String, String>, max_chars: usize, allowed: &[char]) {
    let model: String = raw.nfc().collect::<String>().trim().to_owned();
    let count = model.chars().count();
    let chars: Vec<char> = model.chars().collect();
    let model_ok = count >= 1
        && count <= max_chars
        && !unicode_normalization::char::is_combining_mark(chars[0])
        && !chars.iter().enumerate().any(|(i, &c)| {
            (c.is_control() && !allowed.contains(&c))
                || is_forbidden_format_char(c)
                || bad_joiner(&chars, i)
        });
    assert_eq!(out.is_ok(), model_ok, "clean_text({raw:?}) = {out:?}");
    if let Ok(text) = out {
        assert_eq!(text, &model);
        assert!(is_nfc(text), "not NFC: {text:?}");
        assert_eq!(text.trim(), text, "not trimmed: {text:?}");
        assert!(!text.is_empty());
        assert!(text.chars().count() <= max_chars);
        for c in text.chars() {
            assert!(
                !c.is_control() || allowed.contains(&c),
                "control {c:?} in {text:?}"
            );
            assert!(
                !is_forbidden_format_char(c),
                "format char {c:?} in {text:?}"
            );
        }
        // Idempotent: cleaning clean text changes nothing.
        assert_eq!(
            clean_text(text, max_chars, allowed).as_ref(),
            Ok(text),
            "clean_text is not idempotent on {raw:?}"
        );
    }
}

/// Usernames, display names, message bodies, client ids and login passwords from one
/// string (new passwords: `check_new_password`).
pub fn check_normalize(data: &[u8]) {
    let raw = as_text(data);
    let raw: &str = &raw;

    // Username: 3..=32 of [a-z0-9_.-] after ASCII lowercasing; nothing else.
    let model_ok = (USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    match Username::parse(raw) {
        Ok(name) => {
            assert!(model_ok, "Username::parse accepted {raw:?}");
            let s = name.as_str();
            assert_eq!(s, raw.to_ascii_lowercase());
            assert!((USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&s.chars().count()));
            assert!(s.chars().all(|c| c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, '_' | '.' | '-')));
            assert_eq!(Username::parse(s).as_ref(), Ok(&name), "not idempotent");
        }
        Err(message) => {
            assert!(!model_ok, "Username::parse refused {raw:?}: {message}");
            assert!(!message.is_empty());
        }
    }

    // Display names: clean_text with no control characters allowed, at most 64.
    let display = DisplayName::parse(raw).map(DisplayName::into_inner);
    check_clean(raw, &display, DISPLAY_NAME_MAX_CHARS, &[]);
    if let Ok(name) = &display {
        assert_eq!(
            DisplayName::parse(name)
                .map(DisplayName::into_inner)
                .as_ref(),
            Ok(name),
            "DisplayName::parse is not idempotent on {raw:?}"
        );
    }

    // Message bodies: newlines and tabs allowed, at most 4000.
    let allowed = ['\n', '\t'];
    let cleaned = clean_text(raw, MESSAGE_BODY_MAX_CHARS, &allowed);
    check_clean(raw, &cleaned, MESSAGE_BODY_MAX_CHARS, &allowed);
    let body = parse_body(raw);
    assert_eq!(
        body.as_ref().ok(),
        cleaned.as_ref().ok(),
        "parse_body vs clean_text"
    );
    if let Err(err) = &body {
        assert!(!err.message.is_empty());
    }
    if let Ok(body) = &body {
        assert_eq!(
            parse_body(body).ok().as_ref(),
            Some(body),
            "parse_body idempotent"
        );
    }

    // Client ids: 1..=64 printable ASCII, returned unchanged.
    let model_ok =
        (1..=CLIENT_ID_MAX_CHARS).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_graphic());
    match parse_client_id(raw) {
        Ok(id) => {
            assert!(model_ok, "parse_client_id accepted {raw:?}");
            assert_eq!(id, raw);
            assert_eq!(parse_client_id(&id).ok().as_ref(), Some(&id));
        }
        Err(_) => assert!(!model_ok, "parse_client_id refused {raw:?}"),
    }

    // Login passwords: only the raw size is bounded; the rest is NFC.
    match Password::parse_for_login(raw) {
        Ok(p) => {
            assert!(raw.chars().count() <= PASSWORD_MAX_CHARS);
            assert!(is_nfc(p.expose()));
            assert_eq!(p.expose(), raw.nfc().collect::<String>());
        }
        Err(_) => assert!(raw.chars().count() > PASSWORD_MAX_CHARS),
    }
}

/// `Password::parse_new`: what it accepts was 8..=1024 characters as sent, is NFC,
/// and (when NFC did not shorten it below the minimum) reparses to itself.
/// Kept out of the `normalize` fuzz target (zxcvbn makes it ~100x slower); the corpus
/// replay runs it on every short input.
pub fn check_new_password(data: &[u8]) {
    let raw = as_text(data);
    if raw.len() <= PASSWORD_NEW_MAX_INPUT
        && let Ok(p) = Password::parse_new(&raw, &["alice"])
    {
        let s = p.expose();
        assert!(is_nfc(s));
        assert!((PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&raw.chars().count()));
        // Equivalent spellings of a password are one password.
        if s.chars().count() >= PASSWORD_MIN_CHARS {
            let again = Password::parse_new(s, &["alice"]).expect("a parsed password reparses");
            assert_eq!(again.expose(), s);
        }
    }
}

/// Every file of `fuzz/corpus/<target>`, sorted by name.
fn corpus(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus")).join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// Runs `check` on every corpus file; fails naming each file that panicked.
fn replay(target: &str, check: fn(&[u8])) {
    let files = corpus(target);
    assert!(
        files.len() >= 10,
        "fuzz/corpus/{target} holds only {} files: the replay would prove nothing",
        files.len()
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|(_, bytes)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(bytes))).is_err()
        })
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} corpus inputs failed (messages above): {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn ws_frame_corpus_parses_without_panics_and_agrees_with_the_json() {
    replay("ws_frame", check_ws_frame);
}

#[test]
fn normalize_corpus_keeps_the_text_invariants() {
    replay("normalize", |data| {
        check_normalize(data);
        check_new_password(data);
    });
}
