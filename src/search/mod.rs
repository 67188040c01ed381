//! Message search (issue 22), in progress: the query language (`query`). The
//! index (tantivy, one per node) and the endpoint come next; see the notes of
//! issue 22.

pub mod query;
