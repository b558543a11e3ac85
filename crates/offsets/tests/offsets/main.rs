//! Integration tests of semel-offsets: the model-based property test and the fuzz corpus.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod corpus;
mod model;
