#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::dp::fuzzing::decode_dp_config(data));
