//! The txn-list-append node's state machine under a fuzz script (see `glomers::fuzz::machine`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = glomers::fuzz::machine::run("txn-list-append", data) {
        panic!("{v}");
    }
});
