#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::fuzzing::decode_client_state(data));
