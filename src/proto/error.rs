//! Maelstrom's error codes, with the definite/indefinite distinction the contract defines.

use std::fmt;

/// An error code a node may put in an `error` body, or receive from a node or service.
///
/// Codes 0 to 999 are Maelstrom's. A *definite* error promises the operation did not happen;
/// an indefinite one (timeout, crash, custom codes) leaves it unknown. Never return a definite
/// error when the operation might have happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: the requested operation timed out; it may or may not have happened.
    Timeout,
    /// 1: the destination node does not exist.
    NodeNotFound,
    /// 10: the request type is not supported by this node.
    NotSupported,
    /// 11: the node cannot serve the request now (e.g. not yet initialised); it did not happen.
    TemporarilyUnavailable,
    /// 12: the request is malformed (missing or ill-typed field).
    MalformedRequest,
    /// 13: the node crashed while handling the request; outcome unknown.
    Crash,
    /// 14: the operation was aborted and did not happen.
    Abort,
    /// 20: the key does not exist.
    KeyDoesNotExist,
    /// 21: the key already exists.
    KeyAlreadyExists,
    /// 22: a precondition (e.g. a compare-and-set `from`) did not hold.
    PreconditionFailed,
    /// 30: the transaction conflicted and was aborted.
    TxnConflict,
    /// Any other code: 1000 and up are free for applications and are indefinite.
    Other(u64),
}

impl ErrorCode {
    /// The numeric code on the wire.
    pub const fn code(self) -> u64 {
        match self {
            ErrorCode::Timeout => 0,
            ErrorCode::NodeNotFound => 1,
            ErrorCode::NotSupported => 10,
            ErrorCode::TemporarilyUnavailable => 11,
            ErrorCode::MalformedRequest => 12,
            ErrorCode::Crash => 13,
            ErrorCode::Abort => 14,
            ErrorCode::KeyDoesNotExist => 20,
            ErrorCode::KeyAlreadyExists => 21,
            ErrorCode::PreconditionFailed => 22,
            ErrorCode::TxnConflict => 30,
            ErrorCode::Other(c) => c,
        }
    }

    /// The code for a wire number.
    pub const fn from_code(code: u64) -> ErrorCode {
        match code {
            0 => ErrorCode::Timeout,
            1 => ErrorCode::NodeNotFound,
            10 => ErrorCode::NotSupported,
            11 => ErrorCode::TemporarilyUnavailable,
            12 => ErrorCode::MalformedRequest,
            13 => ErrorCode::Crash,
            14 => ErrorCode::Abort,
            20 => ErrorCode::KeyDoesNotExist,
            21 => ErrorCode::KeyAlreadyExists,
            22 => ErrorCode::PreconditionFailed,
            30 => ErrorCode::TxnConflict,
            c => ErrorCode::Other(c),
        }
    }

    /// True when the error guarantees the operation did not take place.
    pub const fn is_definite(self) -> bool {
        !matches!(self, ErrorCode::Timeout | ErrorCode::Crash | ErrorCode::Other(_))
    }

    /// Maelstrom's name for the code.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::NodeNotFound => "node-not-found",
            ErrorCode::NotSupported => "not-supported",
            ErrorCode::TemporarilyUnavailable => "temporarily-unavailable",
            ErrorCode::MalformedRequest => "malformed-request",
            ErrorCode::Crash => "crash",
            ErrorCode::Abort => "abort",
            ErrorCode::KeyDoesNotExist => "key-does-not-exist",
            ErrorCode::KeyAlreadyExists => "key-already-exists",
            ErrorCode::PreconditionFailed => "precondition-failed",
            ErrorCode::TxnConflict => "txn-conflict",
            ErrorCode::Other(_) => "custom",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_definiteness_matches_the_contract() {
        let definite = [1, 10, 11, 12, 14, 20, 21, 22, 30];
        for code in (0..40).chain([999, 1000, 5000]) {
            let e = ErrorCode::from_code(code);
            assert_eq!(e.code(), code);
            let known = matches!(code, 0 | 1 | 10 | 11 | 12 | 13 | 14 | 20 | 21 | 22 | 30);
            if known {
                assert_eq!(e.is_definite(), definite.contains(&code), "code {code}");
            } else {
                assert!(!e.is_definite(), "unknown code {code} must be indefinite");
            }
        }
    }
}
