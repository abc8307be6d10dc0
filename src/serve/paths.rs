//! Path safety: turns the path part of a request URL into a file under the store, or refuses.
//!
//! Two steps, both required. [`decode`] works on the URL alone: it percent-decodes, and it
//! refuses anything a link we generate never contains: `..`, `.` and hidden (dot) components,
//! empty components (`//`, which also rules out absolute paths), NUL and other control
//! characters, backslashes (raw or encoded), encoded slashes, malformed percent escapes,
//! decoded bytes that are not UTF-8, and paths over [`MAX_PATH_BYTES`] or
//! [`MAX_COMPONENTS`]. [`resolve`] then works on the file system: it canonicalises the joined
//! path (following every symlink) and refuses a result outside the canonical store, so a
//! symlink inside the store that points out of it (`store/x -> /etc`) is refused while the
//! store's own `latest` links are followed.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Longest decoded path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Most components accepted in one path.
pub const MAX_COMPONENTS: usize = 32;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The URL path is malformed or contains something our links never do (400).
    Bad(&'static str),
    /// The path resolves outside the store, through a symlink (403).
    OutOfStore,
    /// Nothing is there (404).
    NotFound,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Bad(why) => write!(f, "bad path: {why}"),
            Refusal::OutOfStore => f.write_str("the path leads out of the store"),
            Refusal::NotFound => f.write_str("not found"),
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (`+` stays `+`; query values use [`decode_query_value`]). Refuses a
/// `%` not followed by two hex digits, and a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Result<String, Refusal> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (Some(hi), Some(lo)) =
                (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex))
            else {
                return Err(Refusal::Bad("malformed percent escape"));
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Refusal::Bad("not UTF-8 once decoded"))
}

/// Decodes one `application/x-www-form-urlencoded` query value (`+` is a space).
pub fn decode_query_value(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " ")).ok()
}

/// Decodes a URL path (without the query, and without the route prefix such as `/files/`)
/// into a relative path of plain components. An empty input is the store's root.
pub fn decode(url_path: &str) -> Result<PathBuf, Refusal> {
    // Encoded separators are never in our links, and only serve to hide a traversal.
    let lower = url_path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(Refusal::Bad("encoded slash or backslash"));
    }
    let decoded = percent_decode(url_path)?;
    if decoded.len() > MAX_PATH_BYTES {
        return Err(Refusal::Bad("path too long"));
    }
    if decoded.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(Refusal::Bad("control character (NUL, newline, ...)"));
    }
    if decoded.contains('\\') {
        return Err(Refusal::Bad("backslash"));
    }
    if decoded.starts_with('/') {
        return Err(Refusal::Bad("absolute path"));
    }
    // One trailing slash is how a directory is often written; anything else must be plain.
    let body = decoded.strip_suffix('/').unwrap_or(&decoded);
    let mut rel = PathBuf::new();
    if body.is_empty() {
        return Ok(rel);
    }
    for (n, c) in body.split('/').enumerate() {
        if n >= MAX_COMPONENTS {
            return Err(Refusal::Bad("too many components"));
        }
        if c.is_empty() {
            return Err(Refusal::Bad("empty component (//)"));
        }
        if c.starts_with('.') {
            return Err(Refusal::Bad("dot component (., .., hidden file)"));
        }
        rel.push(c);
    }
    // Belt and braces: what we built must be nothing but plain names.
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Refusal::Bad("not a plain relative path"));
    }
    Ok(rel)
}

/// Joins a decoded relative path to the canonical store root and canonicalises it: the
/// result exists and lies inside the store once every symlink is followed.
pub fn resolve(root: &Path, rel: &Path) -> Result<PathBuf, Refusal> {
    debug_assert!(root.is_absolute(), "the root is canonicalised at start-up");
    let joined = root.join(rel);
    let real = match joined.canonicalize() {
        Ok(p) => p,
        // A dangling symlink, or nothing at all: both are "not here".
        Err(_) => return Err(Refusal::NotFound),
    };
    if real.starts_with(root) { Ok(real) } else { Err(Refusal::OutOfStore) }
}

/// Encodes one path component for a URL: unreserved characters stay, everything else is
/// percent-encoded (so the result is also safe inside an HTML attribute).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes a relative path (plain components) for a URL, component by component.
pub fn encode_path(rel: &Path) -> String {
    let parts: Vec<String> =
        rel.components().map(|c| encode_component(&c.as_os_str().to_string_lossy())).collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(s: &str) {
        assert!(matches!(decode(s), Err(Refusal::Bad(_))), "{s:?} was accepted: {:?}", decode(s));
    }

    #[test]
    fn plain_paths_decode() {
        assert_eq!(decode("").unwrap(), PathBuf::new());
        assert_eq!(
            decode("echo/20260101T000000.000Z/results.json").unwrap(),
            PathBuf::from("echo/20260101T000000.000Z/results.json")
        );
        assert_eq!(decode("echo/x/node-logs/").unwrap(), PathBuf::from("echo/x/node-logs"));
        assert_eq!(decode("a%20b/c").unwrap(), PathBuf::from("a b/c"));
        assert_eq!(decode("caf%C3%A9").unwrap(), PathBuf::from("café"));
    }

    #[test]
    fn traversal_is_refused() {
        bad("..");
        bad("../etc/passwd");
        bad("echo/../../etc/passwd");
        bad("echo/./x");
        bad(".hidden");
        bad("echo/x/..");
    }

    #[test]
    fn percent_encoded_traversal_is_refused() {
        bad("%2e%2e/etc/passwd");
        bad("%2E%2E/%2E%2E/etc");
        bad("echo/%2e%2e");
        bad("..%2fetc%2fpasswd");
        bad("..%2Fetc");
        bad("%252e%252e/x/y/%2e%2e"); // the second layer decodes to `..`
    }

    #[test]
    fn absolute_paths_are_refused() {
        bad("/etc/passwd");
        bad("%2fetc/passwd");
        bad("echo//x");
    }

    #[test]
    fn nul_and_control_characters_are_refused() {
        bad("results.json%00.txt");
        bad("a%0ab");
        bad("a%0d%0aSet-Cookie:x");
        bad("a%7f");
    }

    #[test]
    fn invalid_utf8_is_refused() {
        bad("%ff");
        bad("%c0%ae%c0%ae/etc"); // overlong encoding of `..`
        bad("%e2%82");
    }

    #[test]
    fn backslashes_are_refused() {
        bad("..\\..\\etc");
        bad("a\\b");
        bad("%5c..%5cetc");
    }

    #[test]
    fn malformed_escapes_are_refused() {
        bad("%");
        bad("%4");
        bad("%zz");
        bad("a%g0");
    }

    #[test]
    fn sizes_are_bounded() {
        bad(&"a".repeat(MAX_PATH_BYTES + 1));
        bad(&vec!["a"; MAX_COMPONENTS + 1].join("/"));
        assert!(decode(&vec!["a"; MAX_COMPONENTS].join("/")).is_ok());
    }

    #[test]
    fn encoding_round_trips() {
        for s in ["echo", "a b", "café", "x%y", "<script>", "q?&#"] {
            let enc = encode_component(s);
            assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            assert_eq!(decode(&enc).unwrap(), PathBuf::from(s));
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_store_are_refused() {
        let base = std::env::temp_dir().join(format!("glomers-paths-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let store = base.join("store");
        let outside = base.join("outside");
        std::fs::create_dir_all(store.join("echo/run1")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(store.join("echo/run1/results.json"), "{}").unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("run1", store.join("echo/latest")).unwrap();
        std::os::unix::fs::symlink(&outside, store.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../outside/secret", store.join("echo/run1/leak"))
            .unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", store.join("dangling")).unwrap();
        let root = store.canonicalize().unwrap();

        let ok = resolve(&root, &decode("echo/latest/results.json").unwrap()).unwrap();
        assert_eq!(ok, root.join("echo/run1/results.json"));
        assert_eq!(resolve(&root, &decode("escape/secret").unwrap()), Err(Refusal::OutOfStore));
        assert_eq!(resolve(&root, &decode("escape").unwrap()), Err(Refusal::OutOfStore));
        assert_eq!(resolve(&root, &decode("echo/run1/leak").unwrap()), Err(Refusal::OutOfStore));
        assert_eq!(resolve(&root, &decode("dangling").unwrap()), Err(Refusal::NotFound));
        assert_eq!(resolve(&root, &decode("echo/nope").unwrap()), Err(Refusal::NotFound));
        let _ = std::fs::remove_dir_all(&base);
    }
}
