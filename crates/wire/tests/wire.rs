//! Integration tests of semel-wire; one module per area under `tests/wire/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod wire {
    mod batch_corpus;
    mod batch_differential;
    mod batch_errors;
    mod batch_golden;
    mod batch_props;
    mod generated_random;
    mod msg_corpus;
    mod msg_differential;
    mod msg_golden;
    mod msg_roundtrip;
    mod msg_support;
}
