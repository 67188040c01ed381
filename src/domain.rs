//! Input made into domain values at the edge ("parse, don't validate").
//!
//! Code past the handlers holds a `Username` or a `Password`, never a raw string
//! that may or may not have been checked.

use std::collections::BTreeMap;

use poem_openapi::Enum;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use validator::ValidateLength;

use crate::limits::*;

/// Global role of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

/// Field-level validation failures: field name -> human message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<&'static str, String>);

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Collects the error of one parse, keeping the value when there is none.
    pub fn take<T>(&mut self, field: &'static str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }
    pub fn single(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }
}

/// A valid, lowercased username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let lowered = raw.to_ascii_lowercase();
        let ok_chars = lowered
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        if !ok_chars
            || !lowered.validate_length(
                Some(USERNAME_MIN_CHARS as u64),
                Some(USERNAME_MAX_CHARS as u64),
                None,
            )
        {
            return Err(format!(
                "must be {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters of a-z, 0-9, '_', '.' and '-'"
            ));
        }
        Ok(Self(lowered))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Characters that are invisible, blank-looking or reorder text: refused in names
/// and bodies. That is the whole Unicode `Cf` (format) category, plus blank-looking
/// letters, separators and default-ignorable marks outside it (the Mongolian free
/// variation selectors and the Khmer inherent vowels are `Mn` today). The zero-width joiner (`Cf` too) is judged in
/// context (`joiner_ok`).
fn is_forbidden_format_char(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    (c != '\u{200D}' && c.general_category() == GeneralCategory::Format)
        || matches!(c,
            '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
            | '\u{2028}' | '\u{2029}'
            | '\u{2800}' | '\u{3164}' | '\u{FFA0}' | '\u{E0000}'..='\u{E007F}')
}

/// A zero-width joiner is allowed only between two non-ASCII characters, where
/// emoji sequences (👩‍💻) need it; between letters it hides confusables.
fn joiner_ok(prev: Option<char>, next: Option<char>) -> bool {
    matches!((prev, next), (Some(p), Some(n)) if !p.is_ascii() && !n.is_ascii() && p != '\u{200D}' && n != '\u{200D}')
}

/// NFC-normalises and trims `raw`, then checks its length in characters, that it
/// holds no control characters (except those `allowed`) nor invisible formatting
/// characters, and that it does not start with a lone combining mark.
pub fn clean_text(raw: &str, max_chars: usize, allowed: &[char]) -> Result<String, String> {
    let text: String = raw.nfc().collect::<String>().trim().to_owned();
    let chars: Vec<char> = text.chars().collect();
    let Some(first) = chars.first() else {
        return Err("must not be empty".into());
    };
    if chars.len() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    if unicode_normalization::char::is_combining_mark(*first) {
        return Err("must not start with a combining mark".into());
    }
    let bad = chars.iter().enumerate().any(|(i, &c)| {
        (c.is_control() && !allowed.contains(&c))
            || is_forbidden_format_char(c)
            || (c == '\u{200D}'
                && !joiner_ok(
                    i.checked_sub(1).map(|j| chars[j]),
                    chars.get(i + 1).copied(),
                ))
    });
    if bad {
        return Err("must not contain control or invisible formatting characters".into());
    }
    Ok(text)
}

/// A display name: 1 to 64 characters, NFC, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        clean_text(raw, DISPLAY_NAME_MAX_CHARS, &[]).map(Self)
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A password that is long enough, not too long, NFC-normalised and not easily guessed.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Checks only the size, before anything costly: what a login may try.
    pub fn parse_for_login(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > PASSWORD_MAX_CHARS {
            return Err(format!("must be at most {PASSWORD_MAX_CHARS} characters"));
        }
        Ok(Self(raw.nfc().collect()))
    }

    /// The full rule for a new password; `context` holds words the password must not
    /// lean on (the username, the display name).
    pub fn parse_new(raw: &str, context: &[&str]) -> Result<Self, String> {
        let Self(normalized) = Self::parse_for_login(raw)?;
        // Counted on the input as sent, like the schema's `minLength`: what the
        // spec calls valid is never refused for its length.
        if raw.chars().count() < PASSWORD_MIN_CHARS {
            return Err(format!("must be at least {PASSWORD_MIN_CHARS} characters"));
        }
        let head: String = normalized
            .chars()
            .take(PASSWORD_STRENGTH_PREFIX_CHARS)
            .collect();
        let estimate = zxcvbn::zxcvbn(&head, context);
        if estimate.score() < zxcvbn::Score::Three {
            let hint = estimate
                .feedback()
                .and_then(|f| f.warning().map(|w| w.to_string()))
                .unwrap_or_else(|| "it is too easy to guess".into());
            return Err(format!(
                "is too weak: {hint}. Use a longer passphrase of unrelated words"
            ));
        }
        Ok(Self(normalized))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Clamps a requested page size to the contract's bounds.
pub fn page_limit(requested: Option<u32>) -> u32 {
    requested.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX)
}

/// Clamps a requested search page size to its bounds (`SEARCH_LIMIT_MAX`).
pub fn search_limit(requested: Option<u32>) -> u32 {
    requested
        .unwrap_or(crate::limits::SEARCH_LIMIT_DEFAULT)
        .clamp(1, crate::limits::SEARCH_LIMIT_MAX)
}

/// A moment on the wire (RFC 3339 in JSON, REST and WebSocket alike).
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A stored moment (BSON) as it goes on the wire.
pub fn timestamp(dt: mongodb::bson::DateTime) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(dt.timestamp_millis()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_limited_to_the_charset() {
        assert_eq!(Username::parse("Alice_01").unwrap().as_str(), "alice_01");
        assert!(Username::parse("a.b-c").is_ok());
        for bad in [
            "ab",
            "alice smith",
            "al$ce",
            "ålice",
            "",
            &"x".repeat(33),
            "bob\u{0}",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Username::parse(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn display_names_are_nfc_trimmed_and_free_of_controls() {
        assert_eq!(DisplayName::parse("  Zoë  ").unwrap().into_inner(), "Zoë");
        // "e" + combining acute becomes the single precomposed character.
        assert_eq!(
            DisplayName::parse("Jose\u{301}").unwrap().into_inner(),
            "José"
        );
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("evil\u{202E}name").is_err());
        assert!(DisplayName::parse("bell\u{7}").is_err());
        for blankish in [
            "\u{3164}",
            "a\u{AD}b",
            "rtl\u{61C}mark",
            "\u{301}",
            "x\u{2028}y",
            "tag\u{E0041}",
            "ad\u{200D}min",
            // Format characters the first list missed (issue 10): the whole Cf
            // category is refused now.
            "a\u{206A}b",
            "a\u{206F}b",
            "a\u{180B}b",
            "a\u{180F}b",
            "a\u{17B4}b",
            "a\u{17B5}b",
            "a\u{1BCA0}b",
            "a\u{1BCA3}b",
            "a\u{1D173}b",
            "a\u{1D17A}b",
        ] {
            assert!(DisplayName::parse(blankish).is_err(), "{blankish:?}");
        }
        assert!(
            DisplayName::parse("dev 👩\u{200D}💻").is_ok(),
            "emoji sequences keep their joiner"
        );
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(65)).is_err());
    }

    #[test]
    fn weak_short_and_oversized_passwords_are_refused() {
        assert!(Password::parse_new("password", &[]).is_err());
        assert!(Password::parse_new("123456789", &[]).is_err());
        assert!(Password::parse_new("alice2024", &["alice"]).is_err());
        assert!(Password::parse_new("Tr0ub4d", &[]).is_err());
        assert!(Password::parse_new(&"a".repeat(PASSWORD_MAX_CHARS + 1), &[]).is_err());
        assert!(Password::parse_new("correct horse battery staple 42", &[]).is_ok());
        // Length is counted in characters, as JSON Schema counts: 1024 characters
        // of a strong multi-byte passphrase pass (more than 1024 bytes), 1025 do not.
        let mut long = String::new();
        while long.chars().count() + 20 <= PASSWORD_MAX_CHARS {
            long.push_str("plum-quartz-vivid-ö ");
        }
        while long.chars().count() < PASSWORD_MAX_CHARS {
            long.push('ß');
        }
        assert_eq!(long.chars().count(), PASSWORD_MAX_CHARS);
        assert!(long.len() > PASSWORD_MAX_CHARS);
        assert!(Password::parse_new(&long, &[]).is_ok());
        long.push('x');
        assert!(Password::parse_new(&long, &[]).is_err());
        assert!(Password::parse_for_login(&long).is_err());
        // Seven characters are too short, however many bytes they take.
        assert!(
            Password::parse_new("äöüßäöü", &[]).is_err_and(|e| e.contains("at least 8 characters"))
        );
    }

    #[test]
    fn passwords_are_nfc_normalised_so_equivalent_inputs_match() {
        let composed = Password::parse_for_login("caf\u{e9} latte ocean").unwrap();
        let decomposed = Password::parse_for_login("cafe\u{301} latte ocean").unwrap();
        assert_eq!(composed.expose(), decomposed.expose());
    }

    #[test]
    fn page_limits_are_clamped() {
        assert_eq!(page_limit(None), PAGE_DEFAULT);
        assert_eq!(page_limit(Some(0)), 1);
        assert_eq!(page_limit(Some(1000)), PAGE_MAX);
    }
}
