//! libFuzzer entry point; the harness is `eddy_fuzz::request` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| eddy_fuzz::request(data));
