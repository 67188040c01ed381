//! The search index of one node (tantivy): every message body, indexed as its
//! 2- and 3-character n-grams (lowercased), so any part of a word is found
//! (`chat::search::query::Clause::Word`), text without spaces included.
//!
//! A search asks for candidates that hold every n-gram of every clause *and*
//! lie in the caller's scope (a mandatory clause: the given conversations, or
//! a DM whose `reader` the caller is), newest first. The chat core then checks
//! each candidate against the message as stored now (`chat::search`), which
//! also gives the highlights; bodies are therefore not stored here.
//!
//! A deleted message stays as a tombstone (no body, `version` = `i64::MAX`), so
//! that a catch-up that read the message before its deletion cannot bring it
//! back (`TantivyIndex::versions`).

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;

use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{LowerCaser, NgramTokenizer, TextAnalyzer};
use tantivy::{
    DocId, Index, IndexReader, IndexWriter, ReloadPolicy, SegmentReader, TantivyDocument, Term,
};

use super::scope::ScopeQuery;
use crate::chat::search::{Candidate, Clause, Find, Key, tie_of};
use crate::ids::{MessageId, UserId};
use crate::store::messages::MessageDoc;

/// The tokenizer of `body`.
const GRAMS: &str = "grams";
/// Memory of the index writer (tantivy's minimum is 15 MB per thread).
const WRITER_BYTES: usize = 32_000_000;
/// Bumped when the schema or the tokenizer changes: an index written by
/// another version is in another directory, and this one is rebuilt.
const SCHEMA_VERSION: &str = "v1";

/// Where a message version stands: a later edit is higher, a deletion highest.
pub fn version_of(message: &MessageDoc) -> i64 {
    if message.deleted {
        i64::MAX
    } else {
        message
            .edited_at
            .unwrap_or(message.created_at)
            .timestamp_millis()
    }
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    conversation: Field,
    reader: Field,
    sender: Field,
    at: Field,
    tie: Field,
    version: Field,
    body: Field,
}

pub struct TantivyIndex {
    writer: std::sync::Mutex<IndexWriter>,
    reader: IndexReader,
    fields: Fields,
}

fn schema() -> (Schema, Fields) {
    let mut schema = Schema::builder();
    let grams = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(GRAMS)
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        id: schema.add_text_field("id", STRING | STORED),
        conversation: schema.add_text_field("conversation", STRING),
        reader: schema.add_text_field("reader", STRING),
        sender: schema.add_text_field("sender", STRING),
        at: schema.add_i64_field("at", FAST | INDEXED),
        tie: schema.add_u64_field("tie", FAST),
        version: schema.add_i64_field("version", FAST),
        body: schema.add_text_field("body", grams),
    };
    (schema.build(), fields)
}

impl TantivyIndex {
    /// The index in `dir` (created when missing), or in memory.
    pub fn open(dir: Option<&Path>) -> tantivy::Result<Self> {
        let (schema, fields) = schema();
        let index = match dir {
            Some(dir) => {
                let dir = dir.join(SCHEMA_VERSION);
                std::fs::create_dir_all(&dir)?;
                let directory = tantivy::directory::MmapDirectory::open(&dir)?;
                Index::open_or_create(directory, schema)?
            }
            None => Index::create_in_ram(schema),
        };
        index.tokenizers().register(
            GRAMS,
            TextAnalyzer::builder(NgramTokenizer::all_ngrams(2, 3)?)
                .filter(LowerCaser)
                .build(),
        );
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            writer: std::sync::Mutex::new(writer),
            reader,
            fields,
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Documents searchable now (tombstones included).
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message as it now is (a new one, an edit, a deletion's tombstone),
    /// replacing what was held; `readers`: a DM's participants. Searchable after
    /// `commit`.
    pub fn put(&self, message: &MessageDoc, readers: &[UserId]) -> tantivy::Result<()> {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, message.id.as_str());
        doc.add_text(f.conversation, message.conversation_id.as_str());
        for reader in readers {
            doc.add_text(f.reader, reader.as_str());
        }
        doc.add_text(f.sender, message.sender_id.as_str());
        doc.add_i64(f.at, message.created_at.timestamp_millis());
        doc.add_u64(f.tie, tie_of(&message.id));
        doc.add_i64(f.version, version_of(message));
        if !message.deleted {
            doc.add_text(f.body, &message.body);
        }
        let writer = self.writer();
        writer.delete_term(Term::from_field_text(f.id, message.id.as_str()));
        writer.add_document(doc)?;
        Ok(())
    }

    /// Makes what was put searchable.
    pub fn commit(&self) -> tantivy::Result<()> {
        self.writer().commit()?;
        self.reader.reload()
    }

    /// The version held of every message of `conversation` (committed ones).
    pub fn versions(&self, conversation: &str) -> tantivy::Result<HashMap<String, i64>> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(f.conversation, conversation),
            IndexRecordOption::Basic,
        );
        let found = searcher.search(&query, &DocSetCollector)?;
        let mut versions = HashMap::with_capacity(found.len());
        let mut columns: HashMap<u32, Option<Column<i64>>> = HashMap::new();
        for address in found {
            let column = columns.entry(address.segment_ord).or_insert_with(|| {
                searcher
                    .segment_reader(address.segment_ord)
                    .fast_fields()
                    .i64("version")
                    .ok()
            });
            let version = column
                .as_ref()
                .and_then(|c| c.first(address.doc_id))
                .unwrap_or(0);
            let stored: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = stored.get_first(f.id).and_then(|v| v.as_str()) {
                versions.insert(id.to_owned(), version);
            }
        }
        Ok(versions)
    }

    /// Candidates for `find`, newest first (by `Key`).
    pub fn find(&self, find: &Find) -> tantivy::Result<Vec<Candidate>> {
        let f = self.fields;
        if find.clauses.is_empty() || find.limit == 0 {
            return Ok(Vec::new());
        }
        let mut scope: Vec<Term> = find
            .scope
            .conversations
            .iter()
            .map(|c| Term::from_field_text(f.conversation, c.as_str()))
            .collect();
        if let Some(reader) = &find.scope.reader {
            scope.push(Term::from_field_text(f.reader, reader.as_str()));
        }
        if scope.is_empty() {
            return Ok(Vec::new());
        }
        // The scope is one mandatory clause: nothing of `q` is a part of it.
        let mut must: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, Box::new(ScopeQuery::new(scope)))];
        for clause in &find.clauses {
            let words: Vec<&str> = match clause {
                Clause::Word(w) | Clause::Prefix(w) => vec![w.as_str()],
                Clause::Phrase(ws) => ws.iter().map(String::as_str).collect(),
            };
            for word in words {
                for gram in grams_of(word) {
                    must.push((
                        Occur::Must,
                        Box::new(TermQuery::new(
                            Term::from_field_text(f.body, &gram),
                            IndexRecordOption::Basic,
                        )),
                    ));
                }
            }
        }
        if let Some(sender) = &find.sender {
            must.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.sender, sender.as_str()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        // Below both `until` (exclusive) and the cursor's moment (inclusive: its
        // ties are sorted by `tie` below).
        let upper = match (find.until, find.below) {
            (Some(until), Some(below)) if below.at >= until => Bound::Excluded(until),
            (_, Some(below)) => Bound::Included(below.at),
            (Some(until), None) => Bound::Excluded(until),
            (None, None) => Bound::Unbounded,
        };
        let lower = find.from.map_or(Bound::Unbounded, Bound::Included);
        if !matches!((lower, upper), (Bound::Unbounded, Bound::Unbounded)) {
            let term = |at| Term::from_field_i64(f.at, at);
            must.push((
                Occur::Must,
                Box::new(RangeQuery::new(lower.map(term), upper.map(term))),
            ));
        }
        let query = BooleanQuery::new(must);
        let below = find.below;
        let searcher = self.reader.searcher();
        let collector =
            TopDocs::with_limit(find.limit).custom_score(move |segment: &SegmentReader| {
                let at = segment
                    .fast_fields()
                    .i64("at")
                    .ok()
                    .map(|c| c.first_or_default_col(0));
                let tie = segment
                    .fast_fields()
                    .u64("tie")
                    .ok()
                    .map(|c| c.first_or_default_col(0));
                move |doc: DocId| {
                    let key = Key {
                        at: at.as_ref().map_or(0, |c| c.get_val(doc)),
                        tie: tie.as_ref().map_or(0, |c| c.get_val(doc)),
                    };
                    // At or after the cursor: last, and dropped below.
                    if below.is_some_and(|below| key >= below) {
                        (false, Key { at: 0, tie: 0 })
                    } else {
                        (true, key)
                    }
                }
            });
        let found = searcher.search(&query, &collector)?;
        let mut candidates = Vec::with_capacity(found.len());
        for ((keep, key), address) in found {
            if !keep {
                continue;
            }
            let stored: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = stored.get_first(f.id).and_then(|v| v.as_str()) {
                candidates.push(Candidate {
                    id: MessageId::from_trusted(id),
                    key,
                });
            }
        }
        Ok(candidates)
    }
}

/// The n-grams a word must contain: its 3-grams, or the word itself when it is
/// 2 or 3 characters long (the index holds 2- and 3-grams).
fn grams_of(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() <= 3 {
        return vec![word.to_owned()];
    }
    chars.windows(3).map(|w| w.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::search::{Scope, parse};
    use mongodb::bson::DateTime;

    fn message(conversation: &str, seq: i64, at: i64, body: &str) -> MessageDoc {
        MessageDoc::sample(conversation, seq, at, body)
    }

    fn find(q: &str, conversations: &[&str], reader: Option<&str>) -> Find {
        Find {
            clauses: parse(q).expect("a query"),
            scope: Scope {
                conversations: conversations.iter().map(|c| (*c).into()).collect(),
                reader: reader.map(UserId::from),
            },
            sender: None,
            from: None,
            until: None,
            below: None,
            limit: 10,
        }
    }

    fn found(index: &TantivyIndex, find: &Find) -> Vec<String> {
        index
            .find(find)
            .expect("searched")
            .into_iter()
            .map(|c| c.id.into_inner())
            .collect()
    }

    #[test]
    fn finds_mid_word_newest_first_only_within_the_scope() {
        let index = TantivyIndex::open(None).expect("index");
        index
            .put(&message("a", 1, 1, "trustworthy builds"), &[])
            .expect("put");
        index
            .put(&message("a", 2, 2, "Rust is here"), &[])
            .expect("put");
        index
            .put(&message("b", 1, 3, "rust elsewhere"), &[])
            .expect("put");
        index
            .put(&message("a", 3, 4, "東京都に住む"), &[])
            .expect("put");
        index
            .put(
                &message("d", 1, 5, "rust in a DM"),
                &["u".into(), "v".into()],
            )
            .expect("put");
        index.commit().expect("committed");

        assert_eq!(found(&index, &find("rust", &["a"], None)), ["a-2", "a-1"]);
        assert_eq!(
            found(&index, &find("rust", &["a", "b"], None)),
            ["b-1", "a-2", "a-1"]
        );
        assert_eq!(
            found(&index, &find("rust", &["a"], Some("u"))),
            ["d-1", "a-2", "a-1"]
        );
        assert!(found(&index, &find("rust", &[], Some("w"))).is_empty());
        assert_eq!(found(&index, &find("東京", &["a"], None)), ["a-3"]);
        assert!(found(&index, &find("rust", &[], None)).is_empty());

        // A cursor: strictly older than the last key seen.
        let first = index.find(&find("rust", &["a", "b"], None)).expect("found");
        let mut next = find("rust", &["a", "b"], None);
        next.below = Some(first[0].key);
        assert_eq!(found(&index, &next), ["a-2", "a-1"]);
        next.limit = 1;
        assert_eq!(found(&index, &next), ["a-2"]);
        // Time bounds: from inclusive, until exclusive.
        let mut window = find("rust", &["a", "b"], None);
        window.from = Some(2);
        window.until = Some(3);
        assert_eq!(found(&index, &window), ["a-2"]);
    }

    #[test]
    fn an_edit_replaces_the_text_a_deletion_leaves_a_tombstone() {
        let index = TantivyIndex::open(None).expect("index");
        let mut m = message("a", 1, 1, "old secret");
        index.put(&m, &[]).expect("put");
        index.commit().expect("committed");
        assert_eq!(found(&index, &find("secret", &["a"], None)), ["a-1"]);

        m.body = "new words".into();
        m.edited_at = Some(DateTime::from_millis(5));
        index.put(&m, &[]).expect("edited");
        index.commit().expect("committed");
        assert!(found(&index, &find("secret", &["a"], None)).is_empty());
        assert_eq!(found(&index, &find("words", &["a"], None)), ["a-1"]);
        assert_eq!(index.versions("a").expect("versions")["a-1"], 5);

        m.deleted = true;
        index.put(&m, &[]).expect("deleted");
        index.commit().expect("committed");
        assert!(found(&index, &find("words", &["a"], None)).is_empty());
        assert_eq!(index.versions("a").expect("versions")["a-1"], i64::MAX);
        assert_eq!(index.len(), 1, "one document per message");
    }
}
