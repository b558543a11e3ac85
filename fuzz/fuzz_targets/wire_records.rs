#![no_main]
// Property: see `semel_wire::fuzzing::wire_records` (no panic, zero-copy bounds, re-encode).
libfuzzer_sys::fuzz_target!(|data: &[u8]| semel_wire::fuzzing::wire_records(data));
