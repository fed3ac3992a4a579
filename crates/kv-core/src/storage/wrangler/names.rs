//! How Miniflare 4 names a namespace's files: the SQLite database under a
//! Durable Object id derived from the namespace id, and the blob folder
//! under the namespace id made safe as a file name.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The Durable Object class (with Miniflare's `miniflare-` prefix) that holds
/// KV namespaces; also the folder of their databases.
pub const OBJECT_DIR: &str = "miniflare-KVNamespaceObject";

/// The id of the Durable Object holding namespace `namespace`, which names its
/// database `<OBJECT_DIR>/<id>.sqlite`. workerd derives ids from names this
/// way: `k = SHA-256(unique key)`, `a = HMAC(k, name)[..16]`,
/// `b = HMAC(k, a)[..16]`, id = hex(a ‖ b).
pub fn object_id(namespace: &str) -> String {
    let key = Sha256::digest(OBJECT_DIR.as_bytes());
    let hmac = |data: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
        mac.update(data);
        mac.finalize().into_bytes()
    };
    let name_part = hmac(namespace.as_bytes());
    let check_part = hmac(&name_part[..16]);
    let mut id = String::with_capacity(64);
    for byte in name_part[..16].iter().chain(&check_part[..16]) {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// The folder name Miniflare 4 gives a namespace's blobs (`<name>/blobs/`):
/// the namespace id with file-name-unsafe characters replaced by `_`. The
/// rules, in Miniflare's order:
///
/// 1. a path segment (between `/` or `\`) made only of dots becomes as many `_`;
/// 2. `? < > * " ' ^ / \ : |`, U+0000–U+001F and U+0080–U+009F become `_`;
/// 3. a Windows device name (`con`, `prn`, `aux`, `nul`, `com0`–`com9`,
///    `lpt0`–`lpt9`, any case, optionally followed by `.` and anything) becomes `_`;
/// 4. leading and trailing spaces become `_`;
/// 5. the result is cut to 255 UTF-16 code units (at a character boundary).
///
/// Not injective (`a:b` and `a_b` share a folder): harmless, because blob ids
/// are random and a row names its blob; it only means a folder cannot always
/// be traced back to its namespace id (see `WranglerStorage::namespaces`).
pub fn blob_folder(namespace: &str) -> String {
    // 1. Dot-only segments.
    let mut dotted = String::with_capacity(namespace.len());
    let mut segment_start = 0;
    for (at, c) in namespace.char_indices().chain(std::iter::once((namespace.len(), '/'))) {
        if c == '/' || c == '\\' {
            let segment = &namespace[segment_start..at];
            if !segment.is_empty() && segment.bytes().all(|b| b == b'.') {
                dotted.extend(std::iter::repeat_n('_', segment.len()));
            } else {
                dotted.push_str(segment);
            }
            if at < namespace.len() {
                dotted.push(c);
            }
            segment_start = at + c.len_utf8();
        }
    }
    // 2. Illegal characters.
    let mut safe: String = dotted
        .chars()
        .map(|c| match c {
            '?' | '<' | '>' | '*' | '"' | '\'' | '^' | '/' | '\\' | ':' | '|' => '_',
            '\u{0}'..='\u{1f}' | '\u{80}'..='\u{9f}' => '_',
            c => c,
        })
        .collect();
    // 3. Windows device names.
    if is_windows_device_name(&safe) {
        safe = "_".to_owned();
    }
    // 4. Leading and trailing spaces (slashes are gone by now).
    let leading = safe.len() - safe.trim_start_matches(' ').len();
    let trailing = safe.len() - safe.trim_end_matches(' ').len();
    if leading == safe.len() {
        safe = "_".repeat(safe.len());
    } else if leading > 0 || trailing > 0 {
        let middle = &safe[leading..safe.len() - trailing];
        safe = format!("{}{middle}{}", "_".repeat(leading), "_".repeat(trailing));
    }
    // 5. 255 UTF-16 code units.
    let mut units = 0;
    for (at, c) in safe.char_indices() {
        units += c.len_utf16();
        if units > 255 {
            safe.truncate(at);
            break;
        }
    }
    safe
}

fn is_windows_device_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let base_len = if ["con", "prn", "aux", "nul"].iter().any(|d| lower.starts_with(d)) {
        3
    } else if (lower.starts_with("com") || lower.starts_with("lpt"))
        && lower.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
    {
        4
    } else {
        return false;
    };
    match &lower[base_len..] {
        "" => true,
        // JavaScript's `.` matches anything but line terminators.
        rest => rest.starts_with('.') && !rest.contains(['\n', '\r', '\u{2028}', '\u{2029}']),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_match_miniflare() {
        // Read from a store written by wrangler 4.86.0.
        assert_eq!(
            object_id("e29b263ab50e42ce9b637fa8370175e8"),
            "ad0b91475afdf713e722b91341fd3cce4fb8ee6984d7381ff0d51f74864d4b85"
        );
    }

    #[test]
    fn blob_folders_follow_miniflares_rules() {
        assert_eq!(blob_folder("e29b263ab50e42ce9b637fa8370175e8"), "e29b263ab50e42ce9b637fa8370175e8");
        assert_eq!(blob_folder("TEST_NAMESPACE"), "TEST_NAMESPACE");
        assert_eq!(blob_folder("worker:NS"), "worker_NS");
        assert_eq!(blob_folder("."), "_");
        assert_eq!(blob_folder(".."), "__");
        assert_eq!(blob_folder("a/../b"), "a____b");
        assert_eq!(blob_folder("./././."), "_______");
        assert_eq!(blob_folder(".hidden"), ".hidden");
        assert_eq!(blob_folder("a\u{1}b\u{85}c"), "a_b_c");
        assert_eq!(blob_folder("CON"), "_");
        assert_eq!(blob_folder("com1.txt"), "_");
        assert_eq!(blob_folder("console"), "console");
        assert_eq!(blob_folder("  x "), "__x_");
        assert_eq!(blob_folder("   "), "___");
        assert_eq!(blob_folder(&"é".repeat(300)).chars().count(), 255);
        assert_eq!(blob_folder(&"😀".repeat(200)).chars().count(), 127);
    }
}
