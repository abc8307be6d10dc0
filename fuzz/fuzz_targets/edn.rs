//! The EDN reader and `glomers check`'s history reader on any text: no panic, printed values
//! read back and print the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = glomers::fuzz::edn(data) {
        panic!("{v}");
    }
});
