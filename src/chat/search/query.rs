//! The search query language, parsed by us (never by the engine), so that a
//! query can only ever narrow a search of message bodies: words (all must
//! match), `"a phrase"`, and `prefix*`. Filters (conversation, sender, time)
//! are request parameters, never part of `q`.
//!
//! What matches what (case-insensitive, after Unicode lowercasing):
//! - a word matches anywhere in the body, mid-word included (`rust` finds
//!   "trustworthy"; `東京` finds "東京都"): text without spaces (Chinese,
//!   Japanese) needs no word boundaries;
//! - `prefix*` matches at the start of a word (`deploy*` finds "deployment",
//!   not "redeploy");
//! - `"a phrase"` matches those words in that order, separated by any run of
//!   spaces or punctuation.
//!
//! Characters the engine would read as syntax (`:`, `(`, `+`, `-`, `^`, `~`,
//! `[`) are plain text here: `q` never names a field.

/// One part of a query; a message matches when every part does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// Anywhere in the body, lowercased.
    Word(String),
    /// At the start of a word, lowercased.
    Prefix(String),
    /// These words in order, lowercased.
    Phrase(Vec<String>),
}

/// Why a query cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Nothing to search for (422).
    Empty,
    /// Longer than the limit (422).
    TooLong { max: usize },
    /// More parts than the limit (422).
    TooManyParts { max: usize },
    /// A part shorter than the engine can find (422).
    TooShort { part: String, min: usize },
    /// Malformed: a quote left open, a lone `*` (400).
    Syntax(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "the query is empty"),
            Self::TooLong { max } => write!(f, "the query is longer than {max} characters"),
            Self::TooManyParts { max } => write!(f, "the query has more than {max} parts"),
            Self::TooShort { part, min } => {
                write!(f, "`{part}` is shorter than {min} characters")
            }
            Self::Syntax(why) => write!(f, "{why}"),
        }
    }
}

/// Limits of a query (the values live in `crate::limits`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_chars: usize,
    pub max_parts: usize,
    /// The shortest word or prefix the n-gram index can find.
    pub min_chars: usize,
}

/// The words of `text` for matching: lowercased runs of letters and digits
/// (every other character separates words).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Parses `q` into clauses.
pub fn parse(q: &str, limits: Limits) -> Result<Vec<Clause>, QueryError> {
    if q.chars().count() > limits.max_chars {
        return Err(QueryError::TooLong {
            max: limits.max_chars,
        });
    }
    let mut clauses = Vec::new();
    let mut rest = q;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        rest = &rest[start..];
        if let Some(after_quote) = rest.strip_prefix('"') {
            let Some(end) = after_quote.find('"') else {
                return Err(QueryError::Syntax(
                    "a quote is left open: close the phrase with \"".to_owned(),
                ));
            };
            let phrase = words(&after_quote[..end]);
            match phrase.len() {
                0 => {}
                1 => clauses.push(checked_word(&phrase[0], limits)?),
                _ => clauses.push(Clause::Phrase(phrase)),
            }
            rest = &after_quote[end + 1..];
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let token = &rest[..end];
        rest = &rest[end..];
        let (body, prefix) = match token.strip_suffix('*') {
            Some(body) => (body, true),
            None => (token, false),
        };
        if body.contains('*') {
            return Err(QueryError::Syntax(format!(
                "`{token}`: `*` may only end a word (prefix*)"
            )));
        }
        let parts = words(body);
        if prefix && parts.is_empty() {
            return Err(QueryError::Syntax(
                "`*` needs a word before it (prefix*)".to_owned(),
            ));
        }
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.iter().enumerate() {
            if prefix && i == last {
                if part.chars().count() < limits.min_chars {
                    return Err(QueryError::TooShort {
                        part: format!("{part}*"),
                        min: limits.min_chars,
                    });
                }
                clauses.push(Clause::Prefix(part.clone()));
            } else {
                clauses.push(checked_word(part, limits)?);
            }
        }
    }
    if clauses.is_empty() {
        return Err(QueryError::Empty);
    }
    if clauses.len() > limits.max_parts {
        return Err(QueryError::TooManyParts {
            max: limits.max_parts,
        });
    }
    Ok(clauses)
}

fn checked_word(word: &str, limits: Limits) -> Result<Clause, QueryError> {
    if word.chars().count() < limits.min_chars {
        return Err(QueryError::TooShort {
            part: word.to_owned(),
            min: limits.min_chars,
        });
    }
    Ok(Clause::Word(word.to_owned()))
}

/// Where each clause matches in `body` (char offsets `[start, end)`, sorted,
/// overlaps merged), or `None` when one of them does not: the final word on a
/// candidate the index found.
pub fn matches(body: &str, clauses: &[Clause]) -> Option<Vec<(usize, usize)>> {
    let lower: Vec<char> = body.chars().flat_map(char::to_lowercase).collect();
    // Lowercasing may change the length (rare: 'İ'); offsets are then of the
    // lowercased text, which is what a client highlights in practice.
    let mut spans = Vec::new();
    for clause in clauses {
        let found = match clause {
            Clause::Word(w) => find_all(&lower, &w.chars().collect::<Vec<_>>(), false),
            Clause::Prefix(p) => find_all(&lower, &p.chars().collect::<Vec<_>>(), true),
            Clause::Phrase(ws) => find_phrase(&lower, ws),
        };
        if found.is_empty() {
            return None;
        }
        spans.extend(found);
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    Some(merged)
}

fn find_all(text: &[char], needle: &[char], word_start: bool) -> Vec<(usize, usize)> {
    if needle.is_empty() || needle.len() > text.len() {
        return Vec::new();
    }
    (0..=text.len() - needle.len())
        .filter(|&i| text[i..i + needle.len()] == *needle)
        .filter(|&i| !word_start || i == 0 || !text[i - 1].is_alphanumeric())
        .map(|i| (i, i + needle.len()))
        .collect()
}

fn find_phrase(text: &[char], phrase: &[String]) -> Vec<(usize, usize)> {
    // The words of the text with their offsets; a phrase is consecutive words.
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_alphanumeric() {
            let start = i;
            while i < text.len() && text[i].is_alphanumeric() {
                i += 1;
            }
            spans.push((start, i, text[start..i].iter().collect()));
        } else {
            i += 1;
        }
    }
    spans
        .windows(phrase.len())
        .filter(|window| window.iter().zip(phrase).all(|(w, p)| w.2 == *p))
        .map(|window| (window[0].0, window[window.len() - 1].1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_chars: 256,
        max_parts: 16,
        min_chars: 2,
    };

    fn word(w: &str) -> Clause {
        Clause::Word(w.to_owned())
    }

    #[test]
    fn words_phrases_and_prefixes_parse_lowercased() {
        assert_eq!(
            parse(r#"Deploy* "Blue Green" rollout"#, LIMITS),
            Ok(vec![
                Clause::Prefix("deploy".to_owned()),
                Clause::Phrase(vec!["blue".to_owned(), "green".to_owned()]),
                word("rollout"),
            ])
        );
    }

    #[test]
    fn engine_syntax_is_plain_text_and_names_no_field() {
        let parsed = parse("sender_id:abc body:(xx OR yy) +must -not", LIMITS);
        let expected: Vec<Clause> = [
            "sender", "id", "abc", "body", "xx", "or", "yy", "must", "not",
        ]
        .into_iter()
        .map(word)
        .collect();
        assert_eq!(parsed, Ok(expected));
        assert_eq!(
            parse("conversation:abc (x)", LIMITS),
            Err(QueryError::TooShort {
                part: "x".to_owned(),
                min: 2
            })
        );
    }

    #[test]
    fn bad_queries_say_why() {
        assert_eq!(parse("   ", LIMITS), Err(QueryError::Empty));
        assert_eq!(parse("\"\"", LIMITS), Err(QueryError::Empty));
        assert!(matches!(
            parse("\"open phrase", LIMITS),
            Err(QueryError::Syntax(_))
        ));
        assert!(matches!(parse("*", LIMITS), Err(QueryError::Syntax(_))));
        assert!(matches!(parse("a*b", LIMITS), Err(QueryError::Syntax(_))));
        assert_eq!(
            parse(&"x".repeat(10_000), LIMITS),
            Err(QueryError::TooLong { max: 256 })
        );
        let many = (0..20).map(|i| format!("w{i:02}")).collect::<Vec<_>>();
        assert_eq!(
            parse(&many.join(" "), LIMITS),
            Err(QueryError::TooManyParts { max: 16 })
        );
    }

    #[test]
    fn a_word_matches_mid_word_and_in_text_without_spaces() {
        assert_eq!(
            matches("Trustworthy RUST", &[word("rust")]),
            Some(vec![(1, 5), (12, 16)])
        );
        assert_eq!(matches("我住在東京都", &[word("東京")]), Some(vec![(3, 5)]));
        assert_eq!(matches("nothing here", &[word("rust")]), None);
    }

    #[test]
    fn a_prefix_matches_at_word_starts_only() {
        let deploy = [Clause::Prefix("deploy".to_owned())];
        assert_eq!(matches("deployment done", &deploy), Some(vec![(0, 6)]));
        assert_eq!(matches("we redeploy", &deploy), None);
    }

    #[test]
    fn a_phrase_needs_its_words_in_order_and_every_clause_must_match() {
        let phrase = [Clause::Phrase(vec!["blue".to_owned(), "green".to_owned()])];
        assert_eq!(
            matches("a Blue, green deploy", &phrase),
            Some(vec![(2, 13)])
        );
        assert_eq!(matches("green blue", &phrase), None);
        assert_eq!(
            matches("blue green", &[phrase[0].clone(), word("red")]),
            None
        );
    }
}
