//! Key and namespace names → file names, and Miniflare 2's old mapping.
//!
//! [`file_name`] is this backend's own mapping. It is injective: every name
//! either
//! - keeps its characters, except that `%XX` (upper-case hex) replaces each
//!   UTF-8 byte of a character that is unsafe or unreadable in a file name
//!   (see [`is_kept`]), so percent-decoding gives the name back; or
//! - when that is longer than [`MAX_FILE_NAME`] bytes, becomes a readable
//!   prefix of it, then `%~`, then 32 hex digits of the BLAKE3 hash of the
//!   name. `%~` never occurs in the first form, so the forms cannot meet.
//!
//! A result is never empty, `.`, `..`, never contains `/`, never ends in
//! `.meta.json` (so `x.meta.json` cannot pose as the metadata of `x`) and never
//! contains `^`, which marks this backend's internal files. Names that need no
//! escaping, such as `user-123`, `user:123`, `hello world` or `ü`, are their own
//! file names. `:` is kept because it is legal on Linux and macOS and keeps
//! `prefix:id` keys readable; this layout is therefore not for Windows.
//!
//! [`legacy_path`] reproduces Miniflare 2's `sanitisePath`, only to find
//! entries that Miniflare 2 wrote.

/// Suffix of the metadata file next to a value file.
pub const META_SUFFIX: &str = ".meta.json";

/// Longest value-file name, so that `<name>.meta.json` fits the 255 bytes
/// that Linux and macOS file systems allow.
pub const MAX_FILE_NAME: usize = 255 - META_SUFFIX.len();

/// Marks a hashed (shortened) file name; see the module comment.
const HASH_MARK: &str = "%~";
const HASH_HEX_DIGITS: usize = 32;

/// Whether a character can appear as itself in a file name. Kept: letters,
/// digits, non-ASCII characters other than the C1 controls, and ASCII
/// punctuation that is harmless in file names and shells. Escaped: controls,
/// `/`, `\`, `%` (the escape character), `^` (internal files), and
/// `* ? " < > | \``, which shells or other systems treat specially.
fn is_kept(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || " !#$&'()+,-.:;=@[]_{}~".contains(c)
    } else {
        !('\u{80}'..='\u{9f}').contains(&c)
    }
}

fn push_escaped(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for byte in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("%{byte:02X}"));
    }
}

/// The file (or directory) name for a key or namespace name. `None` only for
/// the empty name, which has no file of its own.
pub fn file_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    // Byte offsets in `out` where a character's piece ends, so a shortened
    // name never cuts an escape in half.
    let mut piece_ends = Vec::new();
    for c in name.chars() {
        if is_kept(c) {
            out.push(c);
        } else {
            push_escaped(&mut out, c);
        }
        piece_ends.push(out.len());
    }
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    if out.ends_with(META_SUFFIX) {
        // Escape the dot before "json": "x.meta.json" → "x.meta%2Ejson".
        let dot = out.len() - "json".len() - 1;
        out.replace_range(dot..dot + 1, "%2E");
    }
    if out.len() <= MAX_FILE_NAME {
        return Some(out);
    }
    let budget = MAX_FILE_NAME - HASH_MARK.len() - HASH_HEX_DIGITS;
    let cut = piece_ends.iter().copied().take_while(|&end| end <= budget).last().unwrap_or(0);
    let hash = blake3::hash(name.as_bytes());
    let mut short = String::with_capacity(MAX_FILE_NAME);
    short.push_str(&out[..cut]);
    short.push_str(HASH_MARK);
    for byte in &hash.as_bytes()[..HASH_HEX_DIGITS / 2] {
        short.push_str(&format!("{byte:02x}"));
    }
    Some(short)
}

/// Reverses the escaping of [`file_name`]; `None` for hashed names and names
/// that are not escaped this way. Used by tests to prove injectivity.
pub fn decode_file_name(file: &str) -> Option<String> {
    let bytes = file.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = file.get(i + 1..i + 3)?;
            if !hex.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a name in a namespace directory belongs to this backend's
/// machinery (lock file, temporary files) rather than to a key. `^` is
/// escaped by [`file_name`] and replaced by Miniflare 2's sanitiser, so
/// neither ever produces it.
pub fn is_internal(file: &str) -> bool {
    file.starts_with(INTERNAL_PREFIX)
}

/// Prefix of every internal file.
pub const INTERNAL_PREFIX: &str = ".^kv-";

/// The relative path (segments joined by `/`) at which Miniflare 2.14 stored
/// `name`, following its `sanitisePath` and Node's `path.join`; `None` when
/// that path would not name a file below the directory.
pub fn legacy_path(name: &str) -> Option<String> {
    // 1. Separators nest directories.
    let s: String = name.chars().map(|c| if matches!(c, '/' | '\\' | ':' | '|') { '/' } else { c }).collect();
    // 2. Segments made only of dots become as many underscores.
    let s = s
        .split('/')
        .map(
            |seg| {
                if !seg.is_empty() && seg.bytes().all(|b| b == b'.') {
                    "_".repeat(seg.len())
                } else {
                    seg.to_owned()
                }
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    // 3. Characters that some systems reject.
    let s: String = s
        .chars()
        .map(|c| {
            if "?<>*\"'^".contains(c) || ('\u{0}'..='\u{1f}').contains(&c) || ('\u{80}'..='\u{9f}').contains(&c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    // 4. Windows device names, optionally with an extension.
    let mut s = if is_device_name(&s) { "_".to_owned() } else { s };
    // 5./6. Leading and trailing runs of spaces and separators.
    let is_edge = |c: char| c == ' ' || c == '/';
    let lead = s.chars().take_while(|&c| is_edge(c)).count();
    let trail = s.chars().rev().take_while(|&c| is_edge(c)).count();
    if lead == s.chars().count() {
        s = "_".repeat(lead);
    } else {
        let middle = &s[lead..s.len() - trail];
        s = format!("{}{}{}", "_".repeat(lead), middle, "_".repeat(trail));
    }
    // 7. At most 255 UTF-16 code units; Node writes a split pair as U+FFFD.
    let mut truncated = String::with_capacity(s.len());
    let mut units = 0;
    for c in s.chars() {
        let len = c.len_utf16();
        if units + len > 255 {
            if units < 255 {
                truncated.push('\u{fffd}');
            }
            break;
        }
        units += len;
        truncated.push(c);
    }
    // `path.join` drops empty segments; `.` or `..` can only come back by
    // truncation, and would not name a file inside the namespace.
    let segments: Vec<&str> = truncated.split('/').filter(|seg| !seg.is_empty()).collect();
    if segments.is_empty() || segments.iter().any(|seg| *seg == "." || *seg == "..") {
        return None;
    }
    Some(segments.join("/"))
}

/// `^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$`, case-insensitively.
fn is_device_name(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let rest = if ["con", "prn", "aux", "nul"].iter().any(|p| lower.starts_with(p)) {
        &lower[3..]
    } else if (lower.starts_with("com") || lower.starts_with("lpt"))
        && lower.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
    {
        &lower[4..]
    } else {
        return false;
    };
    rest.is_empty() || rest.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_their_own_file_names() {
        for name in [
            "user-123",
            "user:123",
            "hello world",
            "ü",
            "emoji😀",
            ".hidden",
            "CON",
            "con.txt",
            "a..b",
            "...",
            "trail. ",
        ] {
            assert_eq!(file_name(name).as_deref(), Some(name));
        }
    }

    #[test]
    fn unsafe_characters_are_escaped_and_decode_back() {
        let cases = [
            ("a/b", "a%2Fb"),
            ("back\\slash", "back%5Cslash"),
            ("100%", "100%25"),
            ("pi|pe", "pi%7Cpe"),
            ("nul\0", "nul%00"),
            ("ctl\u{1}\u{7f}\u{85}", "ctl%01%7F%C2%85"),
            ("x.meta.json", "x.meta%2Ejson"),
            (".", "%2E"),
            ("..", "%2E%2E"),
            ("^", "%5E"),
        ];
        for (name, file) in cases {
            assert_eq!(file_name(name).as_deref(), Some(file), "{name:?}");
            assert_eq!(decode_file_name(file).as_deref(), Some(name));
        }
        assert_eq!(file_name(""), None);
    }

    #[test]
    fn long_names_are_shortened_with_a_hash() {
        let long = "😀".repeat(128);
        let file = file_name(&long).unwrap();
        assert!(file.len() <= MAX_FILE_NAME);
        assert!(file.contains(HASH_MARK));
        assert!(file.starts_with("😀😀"));
        let other = format!("{}😁", "😀".repeat(127));
        assert_ne!(file_name(&other).unwrap(), file);
        // Exactly at the limit: kept; one escape more: hashed.
        let edge = "a".repeat(MAX_FILE_NAME);
        assert_eq!(file_name(&edge).unwrap(), edge);
        assert!(file_name(&format!("{}/", "a".repeat(MAX_FILE_NAME - 2))).unwrap().contains(HASH_MARK));
    }

    #[test]
    fn miniflare2_sanitise_mappings() {
        let cases = [
            ("a/b", "a/b"),
            ("../x", "__/x"),
            ("x/./y", "x/_/y"),
            ("x/../y", "x/__/y"),
            ("...", "___"),
            (".hidden", ".hidden"),
            ("sp ace", "sp ace"),
            ("back\\slash", "back/slash"),
            ("pi|pe", "pi/pe"),
            ("a:b:c", "a/b/c"),
            ("q?<>*\"'^", "q_______"),
            (" lead", "_lead"),
            ("trail ", "trail_"),
            ("/abs", "_abs"),
            ("dir/", "dir_"),
            ("/", "_"),
            ("a//b", "a/b"),
            ("CON", "_"),
            ("con.txt", "_"),
            ("nul.", "_"),
            ("lpt9", "_"),
            ("dir/con", "dir/con"),
            ("com10", "com10"),
            ("ctl\u{1}\u{85}", "ctl__"),
            ("OTHER:ns/x", "OTHER/ns/x"),
        ];
        for (name, path) in cases {
            assert_eq!(legacy_path(name).as_deref(), Some(path), "{name:?}");
        }
        assert_eq!(legacy_path(&"L".repeat(300)).unwrap().len(), 255);
    }
}
