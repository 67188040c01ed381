//! The caller's scope as one query: every document holding any of the given
//! terms (the caller's conversations, and the `reader` term of their DMs).
//!
//! Built per segment as a bit set from each term's postings, like tantivy's
//! `TermSetQuery`, but each term is looked up in the term dictionary directly:
//! `TermSetQuery` first builds an FST of its terms for every search, which
//! was a third of the server's search CPU in the profile (docs/benchmarks.md,
//! issue 22).

use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError, Term};
use tantivy_common::BitSet;

/// Matches every document that holds any of `terms` (any fields).
#[derive(Clone, Debug)]
pub struct ScopeQuery {
    terms: Vec<Term>,
}

impl ScopeQuery {
    pub fn new(terms: Vec<Term>) -> Self {
        Self { terms }
    }
}

impl Query for ScopeQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ScopeWeight {
            terms: self.terms.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for term in &self.terms {
            visitor(term, false);
        }
    }
}

struct ScopeWeight {
    terms: Vec<Term>,
}

impl Weight for ScopeWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut docs = BitSet::with_max_value(reader.max_doc());
        for term in &self.terms {
            let index = reader.inverted_index(term.field())?;
            let Some(info) = index.get_term_info(term)? else {
                continue;
            };
            let mut postings =
                index.read_block_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
            loop {
                let block = postings.docs();
                if block.is_empty() {
                    break;
                }
                for &doc in block {
                    docs.insert(doc);
                }
                postings.advance();
            }
        }
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new("ScopeQuery", 1.0))
        } else {
            Err(TantivyError::InvalidArgument(
                "the document is not in the scope".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use tantivy::collector::DocSetCollector;
    use tantivy::schema::{STORED, STRING, Schema, Value};
    use tantivy::{Index, TantivyDocument, doc};

    use super::*;

    #[test]
    fn matches_any_term_of_any_field_across_segments_and_nothing_else() -> tantivy::Result<()> {
        let mut schema = Schema::builder();
        let name = schema.add_text_field("name", STRING | STORED);
        let conversation = schema.add_text_field("conversation", STRING);
        let reader = schema.add_text_field("reader", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer = index.writer_with_num_threads(1, 15_000_000)?;
        writer.add_document(doc!(name => "a", conversation => "c1"))?;
        writer.add_document(doc!(name => "b", conversation => "c2"))?;
        writer.commit()?;
        // A second segment, where "c1" is absent.
        writer.add_document(doc!(name => "c", conversation => "c3", reader => "u1"))?;
        writer.add_document(doc!(name => "d", conversation => "c4", reader => "u2"))?;
        writer.add_document(doc!(name => "e", conversation => "c2"))?;
        writer.commit()?;
        let searcher = index.reader()?.searcher();
        let query = ScopeQuery::new(vec![
            Term::from_field_text(conversation, "c1"),
            Term::from_field_text(conversation, "c2"),
            Term::from_field_text(conversation, "missing"),
            Term::from_field_text(reader, "u1"),
        ]);
        let mut names: Vec<String> = searcher
            .search(&query, &DocSetCollector)?
            .into_iter()
            .filter_map(|address| {
                let doc: TantivyDocument = searcher.doc(address).ok()?;
                doc.get_first(name)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        assert_eq!(names, ["a", "b", "c", "e"]);
        let nothing = ScopeQuery::new(vec![Term::from_field_text(conversation, "missing")]);
        assert!(searcher.search(&nothing, &DocSetCollector)?.is_empty());
        Ok(())
    }
}
