//! libFuzzer entry point; the harness is `eddy_fuzz::properties` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| eddy_fuzz::properties(data));
