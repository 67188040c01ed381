//! Message bodies for the search scenario, generated from a vocabulary so that
//! what each query finds is known in advance.
//!
//! A body is 6-14 filler words (none of which contains a query word) plus
//! query words inserted at random places, each with a fixed probability per
//! message ([`MARKERS`]): common words (15 % each), an AND pair's words (8 %
//! each), the `migrat*` family (6 %), `blue` and `green` apart (8 % each) and
//! the phrase "blue green" (1 %), and one rare word in 1.2 % of messages
//! (spread over 40 words: 0.03 % each). The same (room, message) always gives
//! the same body, and [`Query::matches`] follows the server's documented
//! matching (a word anywhere, `prefix*` at the start of a word, a phrase as
//! consecutive words; case ignored), so the scenario counts the exact number of
//! matches in each caller's rooms itself.

use crate::history::Rng;

/// Words of ordinary chatter; none contains a query word.
const FILLER: &[&str] = &[
    "the",
    "a",
    "we",
    "to",
    "of",
    "and",
    "in",
    "is",
    "it",
    "for",
    "on",
    "that",
    "this",
    "with",
    "be",
    "at",
    "as",
    "can",
    "will",
    "not",
    "have",
    "from",
    "just",
    "now",
    "team",
    "today",
    "tomorrow",
    "build",
    "test",
    "tests",
    "server",
    "client",
    "issue",
    "ticket",
    "review",
    "merge",
    "branch",
    "fix",
    "bug",
    "log",
    "logs",
    "error",
    "page",
    "user",
    "users",
    "query",
    "index",
    "cache",
    "latency",
    "memory",
    "disk",
    "network",
    "config",
    "update",
    "check",
    "think",
    "looks",
    "good",
    "done",
    "ready",
    "need",
    "needs",
    "please",
    "thanks",
    "morning",
    "afternoon",
    "lunch",
    "coffee",
    "call",
    "notes",
    "plan",
    "sprint",
    "design",
    "draft",
    "doc",
    "docs",
    "spec",
    "api",
    "endpoint",
    "schema",
    "table",
    "field",
    "value",
    "number",
    "small",
    "large",
    "fast",
    "slow",
    "later",
    "again",
    "soon",
    "maybe",
    "yes",
    "no",
    "sure",
    "ok",
    "still",
    "after",
    "before",
    "while",
    "because",
    "about",
    "around",
    "works",
    "broken",
    "fixed",
    "running",
    "waiting",
    "pending",
    "approved",
    "shipped",
    "metrics",
    "dashboard",
    "alert",
    "oncall",
    "incident",
    "report",
    "summary",
    "question",
    "answer",
    "idea",
    "change",
    "changes",
    "version",
    "staging",
    "production",
    "node",
    "rooms",
    "message",
    "results",
];

/// Words found in few messages (0.03 % of messages each).
pub const RARE: &[&str] = &[
    "aardvark",
    "zeppelin",
    "quixotic",
    "kumquat",
    "xylophone",
    "fjordland",
    "marzipan",
    "obsidian",
    "platypus",
    "quokka",
    "narwhal",
    "wombat",
    "yodeling",
    "zucchini",
    "juniper",
    "kiwifruit",
    "lighthouse",
    "mongoose",
    "nectarine",
    "octopus",
    "pelican",
    "quasar",
    "rhubarb",
    "saffron",
    "tundra",
    "umbrella",
    "vortex",
    "walrus",
    "xenolith",
    "yakitori",
    "zircon",
    "axolotl",
    "bonsai",
    "cinnabar",
    "dulcimer",
    "espresso",
    "flamingo",
    "gazebo",
    "hibiscus",
    "iguana",
];

/// Common words (each in 15 % of messages).
pub const COMMON: &[&str] = &["release", "meeting", "customer"];

/// Share of messages holding a rare word (one of [`RARE`]).
const RARE_PER_MILLE: u64 = 12;

/// Per message, in per mille: each of these is inserted (at a random place)
/// independently with that probability.
const MARKERS: &[(&str, u64)] = &[
    ("release", 150),
    ("meeting", 150),
    ("customer", 150),
    ("deploy", 80),
    ("rollback", 80),
    ("blue", 80),
    ("green", 80),
    ("blue green", 10),
];

/// The `migrat*` family: one of these in 6 % of messages.
const MIGRAT: &[&str] = &["migrate", "migrated", "migration", "migrating"];
const MIGRAT_PER_MILLE: u64 = 60;

/// The kinds of query, in the order searchers cycle through them.
pub const KINDS: [&str; 5] = ["common", "rare", "and", "prefix", "phrase"];

/// One query as sent (`q`) and how to match it.
#[derive(Clone, Debug)]
pub struct Query {
    pub kind: &'static str,
    pub q: String,
    clauses: Vec<Clause>,
}

#[derive(Clone, Debug)]
enum Clause {
    Word(String),
    Prefix(String),
    Phrase(Vec<String>),
}

/// A body prepared for matching: lowercased, and its words.
pub struct Text {
    lower: String,
    words: Vec<String>,
}

impl Text {
    pub fn of(body: &str) -> Self {
        let lower = body.to_lowercase();
        let words = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        Self { lower, words }
    }
}

impl Query {
    /// Whether `text` matches, as the server documents it (`GET /search/messages`).
    pub fn matches(&self, text: &Text) -> bool {
        self.clauses.iter().all(|clause| match clause {
            Clause::Word(w) => text.lower.contains(w.as_str()),
            Clause::Prefix(p) => text.words.iter().any(|w| w.starts_with(p.as_str())),
            Clause::Phrase(ps) => text
                .words
                .windows(ps.len())
                .any(|win| win.iter().zip(ps).all(|(w, p)| w == p)),
        })
    }
}

/// Every query the scenario sends, grouped by kind in [`KINDS`] order.
pub fn queries() -> Vec<Query> {
    let word = |w: &str| Clause::Word(w.to_owned());
    let mut all: Vec<Query> = COMMON
        .iter()
        .map(|w| Query {
            kind: "common",
            q: (*w).to_owned(),
            clauses: vec![word(w)],
        })
        .collect();
    all.extend(RARE.iter().map(|w| Query {
        kind: "rare",
        q: (*w).to_owned(),
        clauses: vec![word(w)],
    }));
    for (a, b) in [("deploy", "rollback"), ("customer", "deploy")] {
        all.push(Query {
            kind: "and",
            q: format!("{a} {b}"),
            clauses: vec![word(a), word(b)],
        });
    }
    all.push(Query {
        kind: "prefix",
        q: "migrat*".to_owned(),
        clauses: vec![Clause::Prefix("migrat".to_owned())],
    });
    all.push(Query {
        kind: "phrase",
        q: "\"blue green\"".to_owned(),
        clauses: vec![Clause::Phrase(vec!["blue".to_owned(), "green".to_owned()])],
    });
    all
}

/// A one-line description of the vocabulary for the report.
pub fn describe() -> String {
    format!(
        "6-14 filler words + release/meeting/customer 15 % each, deploy/rollback 8 % each, \
         migrat(e|ed|ion|ing) {} %, blue/green 8 % each apart + \"blue green\" 1 %, \
         one of {} rare words in {:.1} %",
        MIGRAT_PER_MILLE / 10,
        RARE.len(),
        RARE_PER_MILLE as f64 / 10.0
    )
}

/// splitmix64: a well-mixed seed from the message's coordinates.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The body of message `i` of room `room` (always the same).
pub fn body(room: usize, i: usize) -> String {
    let mut rng = Rng::new(mix(((room as u64) << 32) ^ i as u64));
    let n = 6 + rng.below(9) as usize;
    let mut words: Vec<&str> = (0..n)
        .map(|_| FILLER[rng.below(FILLER.len() as u64) as usize])
        .collect();
    let insert = |rng: &mut Rng, words: &mut Vec<&str>, w: &'static str| {
        let at = rng.below(words.len() as u64 + 1) as usize;
        words.insert(at, w);
    };
    for &(w, per_mille) in MARKERS {
        if rng.below(1000) < per_mille {
            insert(&mut rng, &mut words, w);
        }
    }
    if rng.below(1000) < MIGRAT_PER_MILLE {
        let w = MIGRAT[rng.below(MIGRAT.len() as u64) as usize];
        insert(&mut rng, &mut words, w);
    }
    if rng.below(1000) < RARE_PER_MILLE {
        let w = RARE[rng.below(RARE.len() as u64) as usize];
        insert(&mut rng, &mut words, w);
    }
    let mut text = words.join(" ");
    if let Some(first) = text.get(..1) {
        let upper = first.to_uppercase();
        text.replace_range(..1, &upper);
    }
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filler_holds_no_query_word() {
        let mut markers: Vec<&str> = RARE.iter().chain(COMMON).copied().collect();
        markers.extend(["deploy", "rollback", "migrat", "blue", "green"]);
        for f in FILLER {
            for m in &markers {
                assert!(!f.contains(m), "filler {f} contains {m}");
            }
        }
    }

    #[test]
    fn bodies_are_stable_and_match_as_designed() {
        assert_eq!(body(3, 7), body(3, 7));
        let qs = queries();
        let n = 20_000;
        let hits = |q: &str| {
            let query = qs.iter().find(|x| x.q == q).expect("a query");
            (0..n)
                .filter(|&i| query.matches(&Text::of(&body(i % 7, i))))
                .count() as f64
                / n as f64
        };
        assert!((hits("release") - 0.15).abs() < 0.02);
        assert!((hits("migrat*") - 0.06).abs() < 0.01);
        assert!((hits("\"blue green\"") - 0.01).abs() < 0.005);
    }
}
