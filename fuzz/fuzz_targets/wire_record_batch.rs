#![no_main]
// Property: see `semel_wire::fuzzing::wire_record_batch` (validate, patch, rebuild).
libfuzzer_sys::fuzz_target!(|data: &[u8]| semel_wire::fuzzing::wire_record_batch(data));
