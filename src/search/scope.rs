//! The caller's scope as one query: every document holding any of the given
//! terms (the caller's conversations, and the `reader` term of their DMs).
//!
//! Built per segment as a bit set from each term's postings, like tantivy's
//! `TermSetQuery`, but each term is looked up in the term dictionary directly:
//! `TermSetQuery` first builds an FST of its terms for every search, which
//! was a third of the server's search CPU in the profile (docs/benchmarks.md,
//! issue 22).
//!
//! A scope's bit set of a segment is kept (`ScopeCache`): a caller searches
//! the same scope again and again, and a segment never changes (new documents
//! go to new segments; deletions are applied by the collector).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::IndexRecordOption;

use tantivy::index::SegmentId;
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError, Term};
use tantivy_common::BitSet;

use crate::limits::SEARCH_SCOPE_CACHE_BYTES;

/// Scope bit sets by segment and scope, bounded by `SEARCH_SCOPE_CACHE_BYTES`
/// (full: it starts over).
///
/// How an entry stays true: a segment's documents never change, so the set of
/// those holding any of the scope's terms never does either; an entry is only
/// ever unused (its segment merged away, or the scope changed: a joined or
/// left group makes another scope, another key). Memory only: a restart
/// starts empty.
#[derive(Default)]
pub struct ScopeCache {
    inner: Mutex<CacheInner>,
}

type Entry = (Arc<Vec<Term>>, Arc<BitSet>);

#[derive(Default)]
struct CacheInner {
    map: HashMap<(SegmentId, u64), Entry>,
    bytes: usize,
}

impl ScopeCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // Every change below leaves the map and its byte count consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, segment: SegmentId, hash: u64, terms: &[Term]) -> Option<Arc<BitSet>> {
        let inner = self.lock();
        let (held, docs) = inner.map.get(&(segment, hash))?;
        (held.as_slice() == terms).then(|| Arc::clone(docs))
    }

    fn put(&self, segment: SegmentId, hash: u64, terms: Arc<Vec<Term>>, docs: Arc<BitSet>) {
        let bytes = bytes_of(&docs);
        let mut inner = self.lock();
        if bytes > SEARCH_SCOPE_CACHE_BYTES / 16 {
            return;
        }
        if inner.bytes + bytes > SEARCH_SCOPE_CACHE_BYTES {
            inner.map.clear();
            inner.bytes = 0;
        }
        if let Some((_, old)) = inner.map.insert((segment, hash), (terms, docs)) {
            inner.bytes -= bytes_of(&old);
        }
        inner.bytes += bytes;
    }
}

fn bytes_of(docs: &BitSet) -> usize {
    (docs.max_value() as usize).div_ceil(64) * 8
}

/// Matches every document that holds any of `terms` (any fields).
#[derive(Clone)]
pub struct ScopeQuery {
    terms: Arc<Vec<Term>>,
    hash: u64,
    cache: Arc<ScopeCache>,
}

impl std::fmt::Debug for ScopeQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeQuery")
            .field("terms", &self.terms)
            .finish_non_exhaustive()
    }
}

impl ScopeQuery {
    /// `terms` in any order; `cache` keeps each segment's set for the next
    /// search of the same scope.
    pub fn new(mut terms: Vec<Term>, cache: Arc<ScopeCache>) -> Self {
        terms.sort_unstable();
        terms.dedup();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        terms.hash(&mut hasher);
        Self {
            terms: Arc::new(terms),
            hash: hasher.finish(),
            cache,
        }
    }
}

impl Query for ScopeQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ScopeWeight {
            query: self.clone(),
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for term in self.terms.iter() {
            visitor(term, false);
        }
    }
}

struct ScopeWeight {
    query: ScopeQuery,
}

impl ScopeWeight {
    /// The documents of this segment holding any of the terms.
    fn docs(&self, reader: &SegmentReader) -> tantivy::Result<Arc<BitSet>> {
        let q = &self.query;
        let segment = reader.segment_id();
        if let Some(docs) = q.cache.get(segment, q.hash, &q.terms) {
            return Ok(docs);
        }
        let mut docs = BitSet::with_max_value(reader.max_doc());
        for term in q.terms.iter() {
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
        let docs = Arc::new(docs);
        q.cache
            .put(segment, q.hash, Arc::clone(&q.terms), Arc::clone(&docs));
        Ok(docs)
    }
}

impl Weight for ScopeWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let docs = BitSet::clone(&*self.docs(reader)?);
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
        let cache = Arc::new(ScopeCache::default());
        let names = |query: &ScopeQuery| -> tantivy::Result<Vec<String>> {
            let mut names: Vec<String> = searcher
                .search(query, &DocSetCollector)?
                .into_iter()
                .filter_map(|address| {
                    let doc: TantivyDocument = searcher.doc(address).ok()?;
                    doc.get_first(name)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                })
                .collect();
            names.sort();
            Ok(names)
        };
        let scope = || {
            vec![
                Term::from_field_text(conversation, "c2"),
                Term::from_field_text(conversation, "c1"),
                Term::from_field_text(conversation, "missing"),
                Term::from_field_text(reader, "u1"),
            ]
        };
        let query = ScopeQuery::new(scope(), Arc::clone(&cache));
        assert_eq!(names(&query)?, ["a", "b", "c", "e"]);
        assert_eq!(cache.lock().map.len(), 2, "one set per segment kept");
        // The same scope again (in another order): the kept sets, same answer.
        let again = ScopeQuery::new(scope().into_iter().rev().collect(), Arc::clone(&cache));
        assert_eq!(names(&again)?, ["a", "b", "c", "e"]);
        assert_eq!(cache.lock().map.len(), 2);
        // Another scope is never answered from this one's sets.
        let narrower = ScopeQuery::new(
            vec![Term::from_field_text(conversation, "c2")],
            Arc::clone(&cache),
        );
        assert_eq!(names(&narrower)?, ["b", "e"]);
        let nothing = ScopeQuery::new(
            vec![Term::from_field_text(conversation, "missing")],
            Arc::clone(&cache),
        );
        assert!(searcher.search(&nothing, &DocSetCollector)?.is_empty());
        Ok(())
    }
}
