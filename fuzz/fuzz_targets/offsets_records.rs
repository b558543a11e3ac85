#![no_main]
// Arbitrary bytes as an offset-store record: a typed error, or a record that re-encodes to the
// same bytes (property in semel_offsets::fuzzing).
libfuzzer_sys::fuzz_target!(|data: &[u8]| semel_offsets::fuzzing::offsets_records(data));
