//! semel-dedup: a durable store that applies each keyed effect at most once (work in progress).
