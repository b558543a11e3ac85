#![no_main]
// Arbitrary bytes as a segment file: the recovery scan never panics, returns only whole
// CRC-valid entries, and ends exactly after the last of them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| semel_log::fuzzing::log_recovery(data));
