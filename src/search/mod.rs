//! Message search (issue 22), in progress: the query language (`query`) and
//! the node's index (`index`, tantivy). The writer task fed by the writers and
//! the cluster events, the catch-up from history blocks, the endpoint, the SDKs,
//! the web client and the benchmark come next; see the notes of issue 22.

pub mod index;
pub mod query;
