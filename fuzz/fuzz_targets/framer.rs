//! The line framer, fed arbitrary bytes in arbitrary chunks, against a split-by-newline model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = glomers::fuzz::framer(data) {
        panic!("{v}");
    }
});
