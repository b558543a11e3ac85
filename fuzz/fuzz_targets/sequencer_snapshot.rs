#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| semel_sequencer::fuzzing::sequencer_snapshot(data));
