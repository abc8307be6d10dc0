//! The message parser on any line: no panic, scalar scanner and simd-json agree, re-encoding
//! is valid and stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = glomers::fuzz::parser(data) {
        panic!("{v}");
    }
});
