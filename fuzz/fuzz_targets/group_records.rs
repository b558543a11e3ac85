#![no_main]
// Arbitrary bytes as a group-metadata record: a typed error, or a record that re-encodes
// to the same bytes (the property lives in semel_group::fuzzing).
libfuzzer_sys::fuzz_target!(|data: &[u8]| semel_group::fuzzing::group_records(data));
