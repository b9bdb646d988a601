#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| secagg::ffi::fuzzing::entry_points(data));
