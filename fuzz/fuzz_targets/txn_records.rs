#![no_main]
// Arbitrary bytes as a coordinator log record / aborted-txn entry: typed error or exact re-encoding.
libfuzzer_sys::fuzz_target!(|data: &[u8]| semel_txn::fuzzing::txn_records(data));
