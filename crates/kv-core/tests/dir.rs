//! The directory backend against real temporary directories.
//!
//! Tests that need another process re-run this test executable with one of
//! the `#[ignore]`d `child_*` tests selected and its input in environment
//! variables; a child reports on stdout lines starting with `CHILD:`.
//! (The step-by-step crash simulation lives in `src/storage/dir/tests.rs`.)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::NOW;
use kv_core::storage::dir::{decode_file_name, encode_file_name};
use kv_core::storage::DirStorage;
use kv_core::{Bytes, Entry, Kv, ListOptions, ListRequest, ListedKey, Now, Storage};

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kv-dir-test-{}-{label}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn entry(value: impl AsRef<[u8]>, expiration: Option<i64>, metadata: Option<&str>) -> Entry {
    Entry { value: Bytes::copy_from_slice(value.as_ref()), expiration, metadata: metadata.map(Arc::from) }
}

fn text(e: &Entry) -> String {
    String::from_utf8(e.value.to_vec()).unwrap()
}

/// Every key of a namespace, through the storage's own paging.
fn list_names(storage: &impl Storage, ns: &str, now: Now) -> Vec<String> {
    list_keys(storage, ns, now).into_iter().map(|k| k.name).collect()
}

fn list_keys(storage: &impl Storage, ns: &str, now: Now) -> Vec<ListedKey> {
    let mut keys: Vec<ListedKey> = Vec::new();
    loop {
        let cursor = keys.last().map(|k| kv_core::list::encode_cursor(&k.name));
        let request = ListRequest::new(None, Some(1000), cursor.as_deref()).unwrap();
        let page = request.page(storage.list_range(ns, &request, now).unwrap());
        let done = page.list_complete();
        keys.extend(page.keys);
        if done {
            return keys;
        }
    }
}

/// Every file below `root`, relative, `/`-separated.
fn walk(root: &Path) -> Vec<String> {
    fn go(root: &Path, rel: &str, out: &mut Vec<String>) {
        for e in fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().expect("file names are UTF-8");
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{child}/"));
                go(root, &child, out);
            } else {
                out.push(child);
            }
        }
    }
    let mut out = Vec::new();
    go(root, "", &mut out);
    out.sort();
    out
}

fn is_internal(file: &str) -> bool {
    file.rsplit('/').next().unwrap().starts_with(".^kv-")
}

#[test]
fn passes_the_shared_storage_contract() {
    let parent = TempDir::new("contract");
    let count = AtomicUsize::new(0);
    common::run_contract(|| {
        let dir = parent.path().join(count.fetch_add(1, Ordering::Relaxed).to_string());
        DirStorage::open(dir).unwrap()
    });
}

#[test]
fn files_are_readable_and_meta_files_only_when_needed() {
    let dir = TempDir::new("layout");
    let s = DirStorage::open(dir.path()).unwrap();
    s.put("NS", "user-123", entry("plain", None, None)).unwrap();
    s.put("NS", "user:123", entry("colon", None, None)).unwrap();
    s.put("NS", "hello world", entry("space", None, None)).unwrap();
    s.put("NS", "a/b", entry("slash", None, None)).unwrap();
    s.put("NS", "with-meta", entry("m", Some(2_000_000_000), Some(r#"{"a":1,"s":"ü"}"#))).unwrap();
    s.put("my ns", "k", entry("v", None, None)).unwrap();
    let files: Vec<String> = walk(dir.path()).into_iter().filter(|f| !is_internal(f)).collect();
    assert_eq!(
        files,
        [
            "NS/",
            "NS/a%2Fb",
            "NS/a%2Fb.meta.json",
            "NS/hello world",
            "NS/user-123",
            "NS/user:123",
            "NS/with-meta",
            "NS/with-meta.meta.json",
            "my ns/",
            "my ns/k"
        ]
    );
    assert_eq!(fs::read(dir.path().join("NS/user:123")).unwrap(), b"colon");
    let meta = fs::read_to_string(dir.path().join("NS/with-meta.meta.json")).unwrap();
    assert!(
        meta.starts_with(r#"{"key":"with-meta","expiration":2000000000,"metadata":{"a":1,"s":"ü"},"valueHash":""#),
        "{meta}"
    );
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["metadata"]["s"], "ü", "metadata is stored as JSON, not as a string");
    let escaped: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("NS/a%2Fb.meta.json")).unwrap()).unwrap();
    assert_eq!(escaped["key"], "a/b");
    assert!(escaped.get("metadata").is_none() && escaped.get("expiration").is_none());

    // Dropping metadata removes the meta file of a plain name.
    s.put("NS", "with-meta", entry("m2", None, None)).unwrap();
    assert!(!dir.path().join("NS/with-meta.meta.json").exists());
    assert_eq!(s.get("NS", "with-meta", NOW).unwrap(), Some(entry("m2", None, None)));
}

fn hostile_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "/",
        "\\",
        ":",
        "|",
        "..a",
        "a/..",
        "../x",
        "../../etc/passwd",
        "/abs",
        "dir/",
        "a//b",
        "a/b",
        "a",
        "a/b/c",
        "CON",
        "con.txt",
        "nul.",
        "COM1",
        "lpt9",
        "trail.",
        "trail ",
        " lead",
        "...",
        ".hidden",
        ".^kv-lock",
        ".^kv-tmp-1-1.value",
        "x.meta.json",
        "x",
        "x.meta.json.meta.json",
        "%",
        "%2F",
        "a%2Fb",
        "100%25",
        "%~",
        "ctl\u{1}\u{1f}\u{7f}\u{85}",
        "nul\u{0}byte",
        "\u{0}",
        "tab\there",
        "new\nline",
        "q?<>*\"'^",
        "e\u{301}",
        "é",
        "\u{ffff}",
        "😀",
        "\u{feff}bom",
        "~",
        "-rf",
        "*",
        "?",
        "^",
        "`id`",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    keys.push("😀".repeat(128)); // 512 bytes of 4-byte characters
    keys.push(format!("{}😁", "😀".repeat(127)));
    keys.push("/".repeat(512));
    keys.push("a".repeat(512));
    keys.push(format!("{}b", "a".repeat(511)));
    keys.push("a".repeat(245));
    keys.push("a".repeat(246));
    keys.push(format!("{}.meta.json", "m".repeat(235)));
    keys.push("\u{0}".repeat(512));
    keys
}

/// Asserts that `keys` all read back their own values, that list returns
/// exactly them, and that no file lies outside the namespaces' directories.
fn assert_all_stored(s: &DirStorage, root: &Path, namespaces: &[String], keys: &[(String, String)]) {
    let mut expected: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (ns, key) in keys {
        expected.entry(ns).or_default().insert(key);
        let got = s.get(ns, key, NOW).unwrap().unwrap_or_else(|| panic!("{ns:?}/{key:?} not found"));
        assert_eq!(text(&got), format!("{ns}\u{0}{key}"), "{ns:?}/{key:?} reads another key's value");
    }
    for ns in namespaces {
        let want: Vec<&str> = expected.get(ns.as_str()).map(|s| s.iter().copied().collect()).unwrap_or_default();
        assert_eq!(list_names(s, ns, NOW), want, "list of {ns:?}");
    }
    let ns_dirs: BTreeSet<String> = namespaces.iter().map(|ns| encode_file_name(ns).unwrap()).collect();
    assert_eq!(ns_dirs.len(), namespaces.len(), "two namespaces share a directory");
    for file in walk(root) {
        let (top, rest) = file.split_once('/').unwrap_or_else(|| panic!("{file:?} lies outside every namespace"));
        assert!(ns_dirs.contains(top), "{file:?} is not in a namespace directory");
        assert!(!rest.contains('/'), "{file:?}: keys must not nest directories");
        assert!(rest.len() <= 255, "{file:?}: name longer than 255 bytes");
    }
}

#[test]
fn hostile_keys_each_get_their_own_file() {
    let dir = TempDir::new("hostile");
    let s = DirStorage::open(dir.path()).unwrap();
    let namespaces: Vec<String> = ["NS", ".", "..", "a/b", "x.meta.json", "😀"].iter().map(|s| s.to_string()).collect();
    let mut keys = Vec::new();
    for ns in &namespaces {
        for key in hostile_keys() {
            s.put(ns, &key, entry(format!("{ns}\u{0}{key}"), None, None)).unwrap();
            keys.push((ns.clone(), key));
        }
    }
    assert_all_stored(&s, dir.path(), &namespaces, &keys);
    // A second process sees the same.
    let other = DirStorage::open(dir.path()).unwrap();
    assert_all_stored(&other, dir.path(), &namespaces, &keys);
    // Plain keys are plain file names.
    for plain in ["CON", "con.txt", "...", ".hidden", "trail ", "é", "😀"] {
        assert!(dir.path().join("NS").join(plain).is_file(), "{plain:?}");
    }
    // And everything can be deleted again, leaving no entries behind.
    for (ns, key) in &keys {
        s.delete(ns, key).unwrap();
    }
    for ns in &namespaces {
        assert_eq!(list_names(&other, ns, NOW), Vec::<String>::new());
    }
    let left: Vec<String> = walk(dir.path()).into_iter().filter(|f| !f.ends_with('/') && !is_internal(f)).collect();
    assert_eq!(left, Vec::<String>::new());
}

/// A random valid key: up to 512 bytes of ASCII, separators, dots,
/// controls, `%`, and 2-, 3- and 4-byte characters.
fn random_name(rng: &mut fastrand::Rng, max_bytes: usize) -> String {
    const PIECES: &[&str] = &[
        "/",
        "\\",
        ":",
        "|",
        ".",
        "..",
        "%",
        "%2F",
        "\u{0}",
        "\u{1}",
        "\u{1f}",
        "\u{7f}",
        "\u{85}",
        " ",
        "^",
        "*",
        "?",
        "\"",
        "<",
        ">",
        "é",
        "ü",
        "\u{ffff}",
        "😀",
        "𝄞",
        ".meta.json",
        "CON",
        "a",
        "b",
        "Z",
        "0",
        "-",
        "_",
        "~",
    ];
    let target = match rng.u8(..4) {
        0 => rng.usize(1..=4),
        1 => rng.usize(1..=40),
        2 => rng.usize(200..=300),
        _ => rng.usize(max_bytes - 30..=max_bytes),
    }
    .min(max_bytes);
    loop {
        let mut name = String::new();
        while name.len() < target {
            let piece = if rng.bool() {
                PIECES[rng.usize(..PIECES.len())].to_owned()
            } else {
                // Any Unicode scalar value.
                let c = loop {
                    if let Some(c) = char::from_u32(rng.u32(..0x11_0000)) {
                        break c;
                    }
                };
                c.to_string()
            };
            if name.len() + piece.len() <= max_bytes {
                name.push_str(&piece);
            } else if name.is_empty() {
                continue;
            } else {
                break;
            }
        }
        if !name.is_empty() && name != "." && name != ".." {
            return name;
        }
    }
}

#[test]
fn thousands_of_random_keys_and_namespaces_never_collide() {
    let dir = TempDir::new("random");
    let s = DirStorage::open(dir.path()).unwrap();
    let mut rng = fastrand::Rng::with_seed(0x5eed_d1c7);
    let mut namespaces: Vec<String> = (0..12).map(|_| random_name(&mut rng, 300)).collect();
    namespaces.sort();
    namespaces.dedup();
    let mut seen = BTreeSet::new();
    let mut keys = Vec::new();
    for i in 0..4000 {
        let ns = namespaces[i % namespaces.len()].clone();
        let key = random_name(&mut rng, 512);
        if seen.insert((ns.clone(), key.clone())) {
            s.put(&ns, &key, entry(format!("{ns}\u{0}{key}"), None, None)).unwrap();
            keys.push((ns, key));
        }
    }
    assert_all_stored(&s, dir.path(), &namespaces, &keys);

    // The file-name mapping itself: distinct names, decodable or hashed.
    let mut files = BTreeMap::new();
    for (_, key) in &keys {
        let file = encode_file_name(key).unwrap();
        match decode_file_name(&file) {
            Some(decoded) => assert_eq!(&decoded, key),
            None => assert!(file.contains("%~"), "{file:?} neither decodes nor is hashed"),
        }
        if let Some(other) = files.insert(file.clone(), key.clone()) {
            assert_eq!(&other, key, "{other:?} and {key:?} share {file:?}");
        }
    }
}

/// The tree from the reference (§5 "Example tree produced by v2").
fn write_miniflare2_tree(root: &Path) {
    let files: &[(&str, &[u8])] = &[
        ("NS/plain", b"v-plain"),
        ("NS/with-meta", b"v-with-meta"),
        ("NS/with-meta.meta.json", r#"{"key":"with-meta","metadata":{"a":1,"s":"ü"}}"#.as_bytes()),
        ("NS/with-exp", b"v-with-exp"),
        ("NS/with-exp.meta.json", br#"{"key":"with-exp","expiration":2000000000}"#),
        ("NS/a/b", b"v-a//b"),
        ("NS/__/x", b"v-../x"),
        ("NS/__/x.meta.json", br#"{"key":"../x"}"#),
        ("NS/sp ace", b"v-space"),
        ("NS/ü", "v-ü".as_bytes()),
        ("NS/back/slash", b"v-back\\slash"),
        ("NS/back/slash.meta.json", br#"{"key":"back\\slash"}"#),
        ("NS/pi/pe", b"v-pi|pe"),
        ("NS/pi/pe.meta.json", br#"{"key":"pi|pe"}"#),
        ("NS/q_______", b"v-q"),
        ("NS/q_______.meta.json", br#"{"key":"q?<>*\"'^"}"#),
        ("NS/_", b"v-com1.txt"),
        ("NS/_.meta.json", br#"{"key":"com1.txt"}"#),
        ("NS/_lead", b"v- lead"),
        ("NS/_lead.meta.json", br#"{"key":" lead"}"#),
        ("NS/trail_", b"v-trail "),
        ("NS/trail_.meta.json", br#"{"key":"trail "}"#),
        ("NS/_abs", b"v-/abs"),
        ("NS/_abs.meta.json", br#"{"key":"/abs"}"#),
        ("NS/dir_", b"v-dir/"),
        ("NS/dir_.meta.json", br#"{"key":"dir/"}"#),
        ("NS/___", b"v-..."),
        ("NS/___.meta.json", br#"{"key":"..."}"#),
        ("NS/x/_/y", b"v-x/./y"),
        ("NS/x/_/y.meta.json", br#"{"key":"x/./y"}"#),
        ("NS/x/__/y", b"v-x/../y"),
        ("NS/x/__/y.meta.json", br#"{"key":"x/../y"}"#),
        ("NS/.hidden", b"v-hidden"),
        ("NS/emoji😀", "v-emoji😀".as_bytes()),
        ("NS/bin", &[0, 1, 2, 0xff]),
        ("NS/name.meta.json", b"a value, not JSON"),
        ("OTHER/ns/x/k", b"v-other"),
    ];
    for (rel, bytes) in files {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }
}

const MINIFLARE2_KEYS: &[(&str, &str)] = &[
    ("plain", "v-plain"),
    ("with-meta", "v-with-meta"),
    ("with-exp", "v-with-exp"),
    ("a/b", "v-a//b"),
    ("../x", "v-../x"),
    ("sp ace", "v-space"),
    ("ü", "v-ü"),
    ("back\\slash", "v-back\\slash"),
    ("pi|pe", "v-pi|pe"),
    ("q?<>*\"'^", "v-q"),
    ("com1.txt", "v-com1.txt"),
    (" lead", "v- lead"),
    ("trail ", "v-trail "),
    ("/abs", "v-/abs"),
    ("dir/", "v-dir/"),
    ("...", "v-..."),
    ("x/./y", "v-x/./y"),
    ("x/../y", "v-x/../y"),
    (".hidden", "v-hidden"),
    ("emoji😀", "v-emoji😀"),
];

#[test]
fn reads_a_directory_written_by_miniflare2() {
    let dir = TempDir::new("mf2");
    write_miniflare2_tree(dir.path());
    let s = DirStorage::open(dir.path()).unwrap();
    let kv = Kv::new(DirStorage::open(dir.path()).unwrap());

    let mut expected: Vec<&str> = MINIFLARE2_KEYS.iter().map(|(k, _)| *k).collect();
    expected.push("bin");
    expected.sort();
    assert_eq!(list_names(&s, "NS", NOW), expected);
    for (key, value) in MINIFLARE2_KEYS {
        assert_eq!(s.get("NS", key, NOW).unwrap().map(|e| text(&e)).as_deref(), Some(*value), "{key:?}");
    }
    assert_eq!(s.get("NS", "bin", NOW).unwrap().unwrap().value.as_ref(), [0, 1, 2, 0xff]);
    // What Miniflare 2 itself could not tell apart stays as it listed it.
    assert_eq!(s.get("NS", "a//b", NOW).unwrap(), None);
    assert_eq!(s.get("NS", "CON", NOW).unwrap(), None);
    assert_eq!(s.get("NS", "name.meta.json", NOW).unwrap(), None);
    assert_eq!(s.get("NS", "name", NOW).unwrap(), None);

    let with_meta = kv.get("NS", "with-meta", None, NOW).unwrap().unwrap();
    assert_eq!(with_meta.metadata.as_deref(), Some(r#"{"a":1,"s":"ü"}"#));
    assert_eq!(with_meta.expiration, None);
    let page = kv.list("NS", ListOptions { prefix: Some("with".into()), ..Default::default() }, NOW).unwrap();
    assert_eq!(
        page.keys,
        [
            ListedKey { name: "with-exp".into(), expiration: Some(2_000_000_000), metadata: None },
            ListedKey { name: "with-meta".into(), expiration: None, metadata: Some(r#"{"a":1,"s":"ü"}"#.into()) },
        ]
    );
    assert_eq!(kv.get("OTHER:ns/x", "k", None, NOW).unwrap().map(|e| text(&e)).as_deref(), Some("v-other"));
    assert_eq!(list_names(&s, "OTHER:ns/x", NOW), ["k"]);
    // Expired by the clock: hidden, then reclaimed with its meta file.
    let later = Now(2_000_000_000_000.0);
    assert_eq!(s.get("NS", "with-exp", later).unwrap(), None);
    assert!(!dir.path().join("NS/with-exp").exists() && !dir.path().join("NS/with-exp.meta.json").exists());
}

#[test]
fn writing_over_miniflare2_files_replaces_them_and_leaves_no_litter() {
    let dir = TempDir::new("mf2-write");
    write_miniflare2_tree(dir.path());
    let s = DirStorage::open(dir.path()).unwrap();
    let before = list_names(&s, "NS", NOW);

    s.put("NS", "a/b", entry("new a/b", None, None)).unwrap();
    s.put("NS", " lead", entry("new lead", None, Some("1"))).unwrap();
    s.delete("NS", "../x").unwrap();
    // "_" is Miniflare 2's file of "com1.txt" and the own file name of "_".
    s.put("NS", "_", entry("underscore", None, None)).unwrap();
    // "x" is a directory holding "x/./y" and "x/../y".
    s.put("NS", "x", entry("new x", None, None)).unwrap();

    let mut expected: BTreeSet<String> = before.into_iter().collect();
    expected.remove("../x");
    expected.insert("_".into());
    expected.insert("x".into());
    let other = DirStorage::open(dir.path()).unwrap();
    for storage in [&s, &other] {
        assert_eq!(list_names(storage, "NS", NOW), expected.iter().cloned().collect::<Vec<_>>());
        let read = |k: &str| storage.get("NS", k, NOW).unwrap().map(|e| text(&e));
        assert_eq!(read("a/b").as_deref(), Some("new a/b"));
        assert_eq!(read(" lead").as_deref(), Some("new lead"));
        assert_eq!(read("../x"), None);
        assert_eq!(read("_").as_deref(), Some("underscore"));
        assert_eq!(read("com1.txt").as_deref(), Some("v-com1.txt"));
        assert_eq!(read("x").as_deref(), Some("new x"));
        assert_eq!(read("x/./y").as_deref(), Some("v-x/./y"));
        assert_eq!(read("x/../y").as_deref(), Some("v-x/../y"));
    }
    let files = walk(&dir.path().join("NS"));
    for gone in ["a/", "a/b", "_lead", "__/", "__/x", "x/", "x/_/y"] {
        assert!(!files.contains(&gone.to_string()), "{gone} is still there: {files:?}");
    }
    // Deleting the remaining nested keys removes their directories too.
    s.delete("NS", "back\\slash").unwrap();
    s.delete("NS", "pi|pe").unwrap();
    let dirs: Vec<String> = walk(&dir.path().join("NS")).into_iter().filter(|f| f.ends_with('/')).collect();
    assert_eq!(dirs, Vec::<String>::new());
    // And a key can now take the name that was a directory.
    s.put("NS", "pi", entry("pi", None, None)).unwrap();
    assert_eq!(s.get("NS", "pi", NOW).unwrap().map(|e| text(&e)).as_deref(), Some("pi"));
}

#[test]
fn a_second_instance_sees_every_write_on_its_next_call() {
    let dir = TempDir::new("two");
    let a = DirStorage::open(dir.path()).unwrap();
    let b = DirStorage::open(dir.path()).unwrap();
    assert_eq!(list_names(&b, "NS", NOW), Vec::<String>::new());
    a.put("NS", "k1", entry("v1", None, None)).unwrap();
    assert_eq!(list_names(&b, "NS", NOW), ["k1"]);
    assert_eq!(b.get("NS", "k1", NOW).unwrap().map(|e| text(&e)).as_deref(), Some("v1"));

    // Metadata changes of one key, including delete + put of the same size
    // (which may reuse the meta file's inode), show up in the other's list.
    for i in 0..40 {
        let metadata = format!(r#"{{"v":{}}}"#, i % 10);
        if i % 2 == 0 {
            b.delete("NS", "k2").unwrap();
        }
        b.put("NS", "k2", entry(format!("v{}", i % 10), Some(2_000_000_000), Some(&metadata))).unwrap();
        let listed = list_keys(&a, "NS", NOW);
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[1].metadata.as_deref(), Some(metadata.as_str()), "round {i}");
        let got = a.get("NS", "k2", NOW).unwrap().unwrap();
        assert_eq!(got.metadata.as_deref(), Some(metadata.as_str()));
    }
    b.delete("NS", "k1").unwrap();
    assert_eq!(a.get("NS", "k1", NOW).unwrap(), None);
    assert_eq!(list_names(&a, "NS", NOW), ["k2"]);
    // Files placed by hand are entries too.
    let c = DirStorage::open(dir.path()).unwrap();
    fs::write(dir.path().join("NS/by-hand"), "hand").unwrap();
    assert_eq!(list_names(&c, "NS", NOW), ["by-hand", "k2"]);
    assert_eq!(a.get("NS", "by-hand", NOW).unwrap().map(|e| text(&e)).as_deref(), Some("hand"));
}

#[test]
fn expired_entries_are_invisible_and_reclaimed() {
    let dir = TempDir::new("expiry");
    let s = DirStorage::open(dir.path()).unwrap();
    let exp = NOW.seconds() + 100;
    s.put("NS", "a", entry("a", Some(exp), None)).unwrap();
    s.put("NS", "b", entry("b", Some(exp), Some("1"))).unwrap();
    s.put("NS", "c", entry("c", Some(exp + 100), None)).unwrap();
    s.put("NS", "d", entry("d", None, None)).unwrap();
    let at = Now((exp * 1000) as f64);
    assert_eq!(s.get("NS", "a", Now((exp * 1000 - 1) as f64)).unwrap().map(|e| text(&e)).as_deref(), Some("a"));
    assert_eq!(s.get("NS", "a", at).unwrap(), None);
    assert!(!dir.path().join("NS/a").exists() && !dir.path().join("NS/a.meta.json").exists());
    assert_eq!(list_names(&s, "NS", at), ["c", "d"]);
    assert!(!dir.path().join("NS/b").exists() && !dir.path().join("NS/b.meta.json").exists());
    // Gone for every clock and every process.
    let other = DirStorage::open(dir.path()).unwrap();
    assert_eq!(list_names(&other, "NS", NOW), ["c", "d"]);
}

#[test]
fn paging_while_deleting_keys() {
    let dir = TempDir::new("paging");
    let kv = Kv::new(DirStorage::open(dir.path()).unwrap());
    let other = DirStorage::open(dir.path()).unwrap();
    let keys: Vec<String> = (0..100).map(|i| format!("key:{i:03}")).collect();
    for key in &keys {
        common::put(&kv, "NS", key, key);
    }
    let mut seen = Vec::new();
    let mut deleted = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page =
            kv.list("NS", ListOptions { limit: Some(7), cursor: cursor.clone(), ..Default::default() }, NOW).unwrap();
        let names: Vec<String> = page.keys.iter().map(|k| k.name.clone()).collect();
        seen.extend(names.iter().cloned());
        let Some(next) = page.cursor else { break };
        // Delete the cursor's own key and one not yet seen, the latter from
        // another instance.
        let last = names.last().unwrap().clone();
        kv.delete("NS", &last).unwrap();
        let ahead = keys.iter().find(|k| **k > last && !deleted.contains(*k)).unwrap().clone();
        other.delete("NS", &ahead).unwrap();
        deleted.insert(ahead);
        cursor = Some(next);
    }
    let want: Vec<String> = keys.iter().filter(|k| !deleted.contains(*k)).cloned().collect();
    assert_eq!(seen, want);
}

#[test]
fn io_failures_are_errors_that_name_the_path() {
    let dir = TempDir::new("errors");
    let file = dir.path().join("a-file");
    fs::write(&file, "x").unwrap();
    let err = DirStorage::open(&file).err().expect("a file is not a storage root").to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");

    let s = DirStorage::open(dir.path().join("root")).unwrap();
    fs::write(dir.path().join("root/blocked"), "a file where the namespace directory goes").unwrap();
    let err = s.put("blocked", "k", entry("v", None, None)).unwrap_err().to_string();
    assert!(err.contains(&dir.path().join("root/blocked").display().to_string()), "{err}");
    assert_eq!(s.get("blocked", "k", NOW).unwrap(), None);

    s.put("NS", "k", entry("v", None, Some("1"))).unwrap();
    let meta = dir.path().join("root/NS/k.meta.json");
    fs::write(&meta, "{not json").unwrap();
    let err = s.get("NS", "k", NOW).unwrap_err().to_string();
    assert!(err.contains(&meta.display().to_string()) && err.contains("corrupt"), "{err}");
    let fresh = DirStorage::open(dir.path().join("root")).unwrap();
    let request = ListRequest::new(None, None, None).unwrap();
    let err = fresh.list_range("NS", &request, NOW).unwrap_err().to_string();
    assert!(err.contains(&meta.display().to_string()), "{err}");
    // Writing the key again repairs it.
    s.put("NS", "k", entry("w", None, None)).unwrap();
    assert_eq!(fresh.get("NS", "k", NOW).unwrap().map(|e| text(&e)).as_deref(), Some("w"));
}

#[test]
fn deleting_from_a_missing_namespace_creates_nothing() {
    let dir = TempDir::new("nothing");
    let s = DirStorage::open(dir.path()).unwrap();
    s.delete("NS", "k").unwrap();
    assert_eq!(s.get("NS", "k", NOW).unwrap(), None);
    assert_eq!(list_names(&s, "NS", NOW), Vec::<String>::new());
    assert_eq!(walk(dir.path()), Vec::<String>::new());
}

#[test]
fn concurrent_threads_share_one_instance() {
    let dir = TempDir::new("threads");
    let s = Arc::new(DirStorage::open(dir.path()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    let key = format!("t{t}-{i:03}");
                    s.put("NS", &key, entry(&key, None, (i % 2 == 0).then_some("true"))).unwrap();
                    if i % 3 == 0 {
                        s.put("NS", "shared", entry(format!("{t}-{i}"), None, Some(&format!("\"{t}-{i}\"")))).unwrap();
                    }
                    if i % 50 == 0 {
                        list_names(&*s, "NS", NOW);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(list_names(&*s, "NS", NOW).len(), 801);
    let shared = s.get("NS", "shared", NOW).unwrap().unwrap();
    assert_eq!(shared.metadata.as_deref(), Some(format!("\"{}\"", text(&shared)).as_str()));
}

// ---------------------------------------------------------------------------
// Other processes

fn spawn_child(test: &str, root: &Path, extra: &[(&str, &str)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--ignored", "--exact", "--nocapture", "--test-threads=1", test])
        .env("KV_DIR_ROOT", root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn().unwrap()
}

/// Waits for the child's `CHILD:<word>` line.
fn wait_for(child: &mut Child, word: &str) -> BufReader<std::process::ChildStdout> {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended before CHILD:{word}");
        // The harness prints "test <name> ... " before the child's output.
        if line.trim_end().ends_with(&format!("CHILD:{word}")) {
            return out;
        }
    }
}

fn child_root() -> Option<PathBuf> {
    std::env::var_os("KV_DIR_ROOT").map(PathBuf::from)
}

#[test]
#[ignore = "run by other tests as a child process"]
fn child_write_keys() {
    let Some(root) = child_root() else { return };
    let prefix = std::env::var("KV_CHILD_PREFIX").unwrap();
    let s = DirStorage::open(root).unwrap();
    for i in 0..300 {
        s.put("NS", &format!("{prefix}{i:03}"), entry(format!("{prefix}{i}"), None, Some(&i.to_string()))).unwrap();
    }
    println!("CHILD:done");
}

#[test]
fn another_process_sees_writes_on_the_next_call() {
    let dir = TempDir::new("process");
    let s = DirStorage::open(dir.path()).unwrap();
    s.put("NS", "mine", entry("m", None, None)).unwrap();
    assert_eq!(list_names(&s, "NS", NOW), ["mine"]); // builds the index
                                                     // Two writer processes at once, and this one writing too.
    let mut children: Vec<Child> =
        ["p:", "q:"].iter().map(|p| spawn_child("child_write_keys", dir.path(), &[("KV_CHILD_PREFIX", p)])).collect();
    for i in 0..300 {
        s.put("NS", &format!("r:{i:03}"), entry("r", None, None)).unwrap();
    }
    for child in &mut children {
        // Drained to the end: the harness still writes its summary.
        std::io::copy(&mut wait_for(child, "done"), &mut std::io::sink()).unwrap();
        assert!(child.wait().unwrap().success());
    }
    let names = list_names(&s, "NS", NOW);
    assert_eq!(names.len(), 901, "{:?}", &names[..10]);
    let listed = list_keys(&s, "NS", NOW);
    let q7 = listed.iter().find(|k| k.name == "q:007").unwrap();
    assert_eq!(q7.metadata.as_deref(), Some("7"));
    assert_eq!(s.get("NS", "p:299", NOW).unwrap().map(|e| text(&e)).as_deref(), Some("p:299"));
}

#[test]
#[ignore = "run by other tests as a child process"]
fn child_write_until_killed() {
    let Some(root) = child_root() else { return };
    let s = DirStorage::open(root).unwrap();
    let started = Instant::now();
    let mut i: u64 = 0;
    // Bounded so that a parent that fails to kill it cannot leave it behind.
    while started.elapsed() < Duration::from_secs(60) {
        // Value and metadata both carry `i`; a reader must never see them differ.
        let value = format!("{i}:{}", "x".repeat((i % 7) as usize * 1000));
        let metadata = (!i.is_multiple_of(3)).then(|| format!(r#"{{"i":{i}}}"#));
        s.put("NS", "k", entry(&value, None, metadata.as_deref())).unwrap();
        if i.is_multiple_of(2) {
            s.put("NS", &format!("n{}", i % 5), entry(&value, None, metadata.as_deref())).unwrap();
        } else {
            s.delete("NS", &format!("n{}", i % 5)).unwrap();
        }
        if i == 20 {
            println!("CHILD:running");
        }
        i += 1;
    }
}

fn assert_consistent(s: &DirStorage, key: &str) {
    let Some(e) = s.get("NS", key, NOW).unwrap() else { return };
    let value = text(&e);
    let (i, _) = value.split_once(':').unwrap_or_else(|| panic!("torn value {value:?}"));
    let i: u64 = i.parse().unwrap();
    assert_eq!(value.len(), i.to_string().len() + 1 + (i % 7) as usize * 1000, "torn value");
    let metadata = (!i.is_multiple_of(3)).then(|| format!(r#"{{"i":{i}}}"#));
    assert_eq!(e.metadata.as_deref(), metadata.as_deref(), "{key}: value {i} with another write's metadata");
    let listed = list_keys(s, "NS", NOW).into_iter().find(|k| k.name == key).unwrap();
    assert_eq!(listed.metadata, e.metadata, "{key}: list and get disagree");
}

#[test]
fn a_killed_writer_leaves_old_or_new_entries() {
    for round in 0..6 {
        let dir = TempDir::new("kill");
        let mut child = spawn_child("child_write_until_killed", dir.path(), &[]);
        drop(wait_for(&mut child, "running"));
        std::thread::sleep(Duration::from_millis(5 + round * 17));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let s = DirStorage::open(dir.path()).unwrap();
        for key in ["k", "n0", "n1", "n2", "n3", "n4"] {
            assert_consistent(&s, key);
        }
        // The next write recovers; nothing temporary is left, nothing changes.
        s.put("NS", "after", entry("a", None, None)).unwrap();
        let temps: Vec<String> = walk(&dir.path().join("NS")).into_iter().filter(|f| f.contains("kv-tmp")).collect();
        assert_eq!(temps, Vec::<String>::new());
        for key in ["k", "n0", "n1", "n2", "n3", "n4"] {
            assert_consistent(&s, key);
        }
    }
}

// ---------------------------------------------------------------------------
// Cost (printed, not asserted): `cargo test -p kv-core --release --test dir
// -- --ignored --nocapture costs`.

#[test]
#[ignore = "measurement, run by hand"]
fn costs() {
    let dir = TempDir::new("costs");
    let s = DirStorage::open(dir.path()).unwrap();
    let n = 10_000;
    let keys: Vec<String> = (0..n).map(|i| format!("p{i:015}")).collect();
    let value = entry("v".repeat(100), None, None);
    let t = Instant::now();
    for key in &keys {
        s.put("NS", key, value.clone()).unwrap();
    }
    println!("put: {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    for key in keys.iter().rev() {
        s.get("NS", key, NOW).unwrap().unwrap();
    }
    println!("get: {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    for _ in 0..n {
        s.get("NS", "missing", NOW).unwrap();
    }
    println!("get missing: {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    assert_eq!(list_names(&s, "NS", NOW).len(), n);
    println!("first list (index from own writes), page all: {:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(list_names(&s, "NS", NOW).len(), n);
    println!("page all again: {:?}", t.elapsed());
    let reopened = DirStorage::open(dir.path()).unwrap();
    let t = Instant::now();
    let request = ListRequest::new(None, Some(1000), None).unwrap();
    assert_eq!(reopened.list_range("NS", &request, NOW).unwrap().len(), 1001);
    println!("reopen: first list(limit 1000): {:?}", t.elapsed());

    let with_meta = entry("v".repeat(100), Some(2_000_000_000), Some(r#"{"a":1}"#));
    drop(s);
    let s = DirStorage::open(dir.path()).unwrap();
    let t = Instant::now();
    for key in &keys {
        s.put("META", key, with_meta.clone()).unwrap();
    }
    println!("put with metadata: {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    for key in keys.iter().rev() {
        s.get("META", key, NOW).unwrap().unwrap();
    }
    println!("get with metadata: {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let t = Instant::now();
    drop(s); // as dispose() does: saves the index
    println!("drop after writing: {:?}", t.elapsed());
    let reopened = DirStorage::open(dir.path()).unwrap();
    let t = Instant::now();
    assert_eq!(reopened.list_range("META", &request, NOW).unwrap().len(), 1001);
    println!("reopen with metadata: first list(limit 1000): {:?}", t.elapsed());
    let s = DirStorage::open(dir.path()).unwrap();
    let t = Instant::now();
    assert_eq!(list_names(&reopened, "META", NOW).len(), n);
    println!("then page all: {:?}", t.elapsed());
    let other = DirStorage::open(dir.path()).unwrap();
    list_names(&other, "META", NOW);
    s.put("META", "one-more", with_meta.clone()).unwrap();
    let t = Instant::now();
    list_names(&other, "META", NOW);
    println!("page all after another instance's write: {:?}", t.elapsed());
}
