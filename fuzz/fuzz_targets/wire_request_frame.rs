#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| semel_wire::fuzzing::request_frame(data));
