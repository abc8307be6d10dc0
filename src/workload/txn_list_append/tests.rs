//! Unit tests of the txn-list-append node, driven by hand on virtual time.
