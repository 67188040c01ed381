//! The search index of one node (tantivy): every message body, indexed as its
//! 2- and 3-character n-grams (lowercased), so any part of a word is found
//! (`query::Clause::Word`), text without spaces included. A query asks the
//! index for candidates that hold every n-gram of every clause *and* are in one
//! of the caller's conversations (a clause the query cannot remove); each
//! candidate is then checked against its stored body (`query::matches`), which
//! also gives the highlights.
//!
//! In progress (issue 22): the writer task, the catch-up from history blocks
//! and the endpoint come next.

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{LowerCaser, NgramTokenizer, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, Order, TantivyDocument, Term, doc};

use super::query::{Clause, matches};

/// The tokenizer of `body`.
const GRAMS: &str = "grams";
/// Memory of the index writer.
const WRITER_BYTES: usize = 50_000_000;

/// One message as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexed {
    pub id: String,
    pub conversation: String,
    /// When it was sent (ms since the epoch): newest first.
    pub at: i64,
    pub body: String,
}

/// A found message: its id and where the query matched its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub id: String,
    pub highlights: Vec<(usize, usize)>,
}

pub struct SearchIndex {
    writer: std::sync::Mutex<IndexWriter>,
    reader: IndexReader,
    id: Field,
    conversation: Field,
    at: Field,
    body: Field,
}

impl SearchIndex {
    /// An index in memory (tests); a directory comes with the writer task.
    pub fn in_memory() -> tantivy::Result<Self> {
        let mut schema = Schema::builder();
        let id = schema.add_text_field("id", STRING | STORED);
        let conversation = schema.add_text_field("conversation", STRING);
        let at = schema.add_i64_field("at", FAST);
        let grams = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(GRAMS)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_stored();
        let body = schema.add_text_field("body", grams);
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(
            GRAMS,
            TextAnalyzer::builder(NgramTokenizer::all_ngrams(2, 3)?)
                .filter(LowerCaser)
                .build(),
        );
        let writer = index.writer(WRITER_BYTES)?;
        let reader = index.reader()?;
        Ok(Self {
            writer: std::sync::Mutex::new(writer),
            reader,
            id,
            conversation,
            at,
            body,
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a message, or replaces it (an edit); visible after `commit`.
    pub fn upsert(&self, message: &Indexed) -> tantivy::Result<()> {
        let writer = self.writer();
        writer.delete_term(Term::from_field_text(self.id, &message.id));
        writer.add_document(doc!(
            self.id => message.id.as_str(),
            self.conversation => message.conversation.as_str(),
            self.at => message.at,
            self.body => message.body.as_str(),
        ))?;
        Ok(())
    }

    /// Removes a message (a deletion); gone after `commit`.
    pub fn remove(&self, id: &str) {
        self.writer()
            .delete_term(Term::from_field_text(self.id, id));
    }

    /// Makes what was added and removed visible to searches.
    pub fn commit(&self) -> tantivy::Result<()> {
        self.writer().commit()?;
        self.reader.reload()
    }

    /// The newest `limit` messages of `conversations` that match every clause.
    pub fn search(
        &self,
        clauses: &[Clause],
        conversations: &[String],
        limit: usize,
    ) -> tantivy::Result<Vec<Hit>> {
        if conversations.is_empty() || clauses.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermSetQuery::new(
                conversations
                    .iter()
                    .map(|c| Term::from_field_text(self.conversation, c)),
            )),
        )];
        for clause in clauses {
            let words: Vec<&str> = match clause {
                Clause::Word(w) | Clause::Prefix(w) => vec![w.as_str()],
                Clause::Phrase(ws) => ws.iter().map(String::as_str).collect(),
            };
            for word in words {
                for gram in grams_of(word) {
                    must.push((
                        Occur::Must,
                        Box::new(TermQuery::new(
                            Term::from_field_text(self.body, &gram),
                            IndexRecordOption::Basic,
                        )),
                    ));
                }
            }
        }
        let query = BooleanQuery::new(must);
        let searcher = self.reader.searcher();
        // Candidates may fail the final check: ask for more than needed.
        let candidates = searcher.search(
            &query,
            &TopDocs::with_limit(limit.saturating_mul(4).max(limit))
                .order_by_fast_field::<i64>("at", Order::Desc),
        )?;
        let mut hits = Vec::with_capacity(limit);
        for (_, address) in candidates {
            let stored: TantivyDocument = searcher.doc(address)?;
            let id = stored.get_first(self.id).and_then(|v| v.as_str());
            let body = stored.get_first(self.body).and_then(|v| v.as_str());
            if let (Some(id), Some(body)) = (id, body)
                && let Some(highlights) = matches(body, clauses)
            {
                hits.push(Hit {
                    id: id.to_owned(),
                    highlights,
                });
                if hits.len() == limit {
                    break;
                }
            }
        }
        Ok(hits)
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
    use crate::search::query::{Limits, parse};

    const LIMITS: Limits = Limits {
        max_chars: 256,
        max_parts: 16,
        min_chars: 2,
    };

    fn message(id: &str, conversation: &str, at: i64, body: &str) -> Indexed {
        Indexed {
            id: id.to_owned(),
            conversation: conversation.to_owned(),
            at,
            body: body.to_owned(),
        }
    }

    fn found(index: &SearchIndex, q: &str, conversations: &[&str]) -> Vec<String> {
        let clauses = parse(q, LIMITS).expect("a query");
        let conversations: Vec<String> = conversations.iter().map(|c| c.to_string()).collect();
        index
            .search(&clauses, &conversations, 10)
            .expect("searched")
            .into_iter()
            .map(|hit| hit.id)
            .collect()
    }

    #[test]
    fn finds_mid_word_newest_first_only_in_the_callers_conversations() {
        let index = SearchIndex::in_memory().expect("index");
        index
            .upsert(&message("a-1", "a", 1, "trustworthy builds"))
            .expect("added");
        index
            .upsert(&message("a-2", "a", 2, "Rust is here"))
            .expect("added");
        index
            .upsert(&message("b-1", "b", 3, "rust elsewhere"))
            .expect("added");
        index
            .upsert(&message("a-3", "a", 4, "東京都に住む"))
            .expect("added");
        index.commit().expect("committed");

        assert_eq!(found(&index, "rust", &["a"]), ["a-2", "a-1"]);
        assert_eq!(found(&index, "rust", &["a", "b"]), ["b-1", "a-2", "a-1"]);
        assert_eq!(found(&index, "東京", &["a"]), ["a-3"]);
        assert!(found(&index, "rust", &[]).is_empty());
        // Every clause must match, and the check on the body is final.
        assert_eq!(found(&index, "rust here", &["a"]), ["a-2"]);
        assert!(found(&index, "\"builds trustworthy\"", &["a"]).is_empty());
    }

    #[test]
    fn an_edit_replaces_the_text_and_a_deletion_removes_it() {
        let index = SearchIndex::in_memory().expect("index");
        index
            .upsert(&message("a-1", "a", 1, "old secret"))
            .expect("added");
        index.commit().expect("committed");
        assert_eq!(found(&index, "secret", &["a"]), ["a-1"]);

        index
            .upsert(&message("a-1", "a", 1, "new words"))
            .expect("edited");
        index.commit().expect("committed");
        assert!(found(&index, "secret", &["a"]).is_empty());
        assert_eq!(found(&index, "words", &["a"]), ["a-1"]);

        index.remove("a-1");
        index.commit().expect("committed");
        assert!(found(&index, "words", &["a"]).is_empty());
    }
}
