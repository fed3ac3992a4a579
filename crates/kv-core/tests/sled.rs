//! The sled backend against real sled databases in temporary directories.
//! Tests that need a second process re-run this test executable with one of
//! the `#[ignore]`d `child_*` tests selected and its input in environment
//! variables; the child reports on stdout lines starting with `CHILD:`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{get, list_all, put, NOW};
use kv_core::storage::SledStorage;
use kv_core::{Bytes, Kv, ListOptions, Now, PutOptions, Storage};

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kv-sled-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CHILD_DB_PATH: &str = "KV_SLED_TEST_CHILD_DB";

/// Starts this test executable running only the ignored test `name`.
fn spawn_child(name: &str, db: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB_PATH, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits for the child (killing it after a generous limit, so that a hang
/// fails the test instead of stalling it) and returns its `CHILD:` lines.
fn child_report(mut child: Child) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the child process hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.lines().map_while(|line| line.ok()).filter_map(|line| child_line(&line).map(str::to_owned)).collect()
}

/// The report in a child's stdout line (the harness may print before it).
fn child_line(line: &str) -> Option<&str> {
    line.find("CHILD:").map(|at| &line[at + "CHILD:".len()..])
}

fn child_db_path() -> PathBuf {
    std::env::var_os(CHILD_DB_PATH).expect("only run as a child of another test").into()
}

#[test]
#[ignore = "helper: run by other tests in a child process"]
fn child_open_and_report() {
    match SledStorage::open(child_db_path()) {
        Ok(storage) => {
            let kv = Kv::new(storage);
            println!("CHILD:opened value={:?}", get(&kv, "ns", "k", NOW));
        }
        Err(e) => println!("CHILD:error {e}"),
    }
}

#[test]
#[ignore = "helper: run by other tests in a child process"]
fn child_write_until_killed() {
    let kv = Kv::new(SledStorage::open(child_db_path()).unwrap());
    for i in 0.. {
        put(&kv, "ns", &format!("key{i:06}"), &format!("value {i}"));
        println!("CHILD:acked {i}");
    }
}

#[test]
fn meets_the_backend_contract() {
    let root = TempDir::new("contract");
    let counter = AtomicUsize::new(0);
    common::run_contract(|| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        SledStorage::open(root.path().join(n.to_string())).unwrap()
    });
}

#[test]
fn entries_survive_reopening_with_metadata_and_expiration() {
    let dir = TempDir::new("reopen");
    let expiration = NOW.seconds() + 3600;
    {
        let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
        let options = PutOptions {
            expiration: Some(expiration as i32),
            metadata_json: Some(r#"{"b":1,"a":[0,false,""]}"#.into()),
            ..Default::default()
        };
        kv.put("ns", "binary", Bytes::from_static(b"\x00\xff\x80"), options, NOW).unwrap();
        put(&kv, "other ns", "k", "v");
    }
    let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
    let entry = kv.get("ns", "binary", None, NOW).unwrap().unwrap();
    assert_eq!(&entry.value[..], b"\x00\xff\x80");
    assert_eq!(entry.expiration, Some(expiration));
    // Metadata text comes back byte for byte (key order kept).
    assert_eq!(entry.metadata.as_deref(), Some(r#"{"b":1,"a":[0,false,""]}"#));
    assert_eq!(get(&kv, "other ns", "k", NOW).as_deref(), Some("v"));
    assert_eq!(list_all(&kv, "ns", None, 1000, NOW), ["binary"]);
}

#[test]
fn paging_over_many_keys_while_deleting() {
    let dir = TempDir::new("paging");
    let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
    for i in 0..2500 {
        put(&kv, "ns", &format!("item{i:05}"), "v");
    }
    put(&kv, "ns", "iten", "outside the prefix");
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let options = ListOptions { prefix: Some("item".into()), limit: Some(1000), cursor };
        let page = kv.list("ns", options, NOW).unwrap();
        seen.extend(page.keys.iter().map(|k| k.name.clone()));
        // Delete the last key of the page (the cursor key) and the next one.
        if let Some(last) = page.keys.last() {
            let last_index: usize = last.name["item".len()..].parse().unwrap();
            kv.delete("ns", &last.name).unwrap();
            kv.delete("ns", &format!("item{:05}", last_index + 1)).unwrap();
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..2500).filter(|i| *i != 1000 && *i != 2001).map(|i| format!("item{i:05}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn expired_entries_are_invisible_and_reclaimed_by_list() {
    let dir = TempDir::new("expiry");
    let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
    let options = PutOptions { expiration_ttl: Some(60), ..Default::default() };
    for key in ["a", "b", "c"] {
        kv.put("ns", key, Bytes::from_static(b"v"), options.clone(), NOW).unwrap();
    }
    put(&kv, "ns", "d", "v");
    let later = Now(NOW.0 + 60_000.0);
    assert_eq!(list_all(&kv, "ns", None, 2, later), ["d"]);
    // The list removed them from disk: an earlier clock cannot see them.
    assert_eq!(list_all(&kv, "ns", None, 1000, NOW), ["d"]);
    assert_eq!(get(&kv, "ns", "a", NOW), None);
}

#[test]
fn opens_of_one_path_share_the_database() {
    let dir = TempDir::new("shared");
    let first = Kv::new(SledStorage::open(dir.path()).unwrap());
    // Another spelling of the same directory joins the same database.
    let second = Kv::new(SledStorage::open(dir.path().join(".")).unwrap());
    assert_eq!(first.storage().path(), second.storage().path());
    put(&first, "ns", "from first", "1");
    put(&second, "ns", "from second", "2");
    assert_eq!(get(&second, "ns", "from first", NOW).as_deref(), Some("1"));
    assert_eq!(get(&first, "ns", "from second", NOW).as_deref(), Some("2"));
    drop(first);
    // The database stays open for the remaining user.
    put(&second, "ns", "after drop", "3");
    assert_eq!(list_all(&second, "ns", None, 1000, NOW), ["after drop", "from first", "from second"]);
}

#[test]
fn dropping_the_last_user_releases_the_lock() {
    let dir = TempDir::new("reopen-loop");
    for round in 0..20 {
        let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
        put(&kv, "ns", &format!("round{round:02}"), "v");
        assert_eq!(list_all(&kv, "ns", None, 1000, NOW).len(), round + 1);
    }
    // And another process can now open it.
    let report = child_report(spawn_child("child_open_and_report", dir.path()));
    assert_eq!(report, ["opened value=None"]);
}

#[test]
fn a_second_process_gets_a_clear_error() {
    let dir = TempDir::new("locked");
    let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
    put(&kv, "ns", "k", "held by the parent");
    let report = child_report(spawn_child("child_open_and_report", dir.path()));
    let canonical = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        report,
        [format!(
            "error sled database at {} is in use by another process; sled allows one process at a time: close \
             it or use a directory/Redis for sharing",
            canonical.display()
        )]
    );
    // Once the parent lets go, the child opens it and sees the data.
    drop(kv);
    let report = child_report(spawn_child("child_open_and_report", dir.path()));
    assert_eq!(report, [r#"opened value=Some("held by the parent")"#]);
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = TempDir::new("crash");
    let mut child = spawn_child("child_write_until_killed", dir.path());
    let mut last_acked = None;
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(n) = child_line(&line).and_then(|report| report.strip_prefix("acked ")) {
            last_acked = Some(n.parse::<usize>().unwrap());
            if last_acked == Some(300) {
                child.kill().unwrap(); // SIGKILL: no destructors, no final flush
                break;
            }
        }
    }
    child.wait().unwrap();
    let last_acked = last_acked.expect("the child acknowledged writes");
    let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
    for i in 0..=last_acked {
        assert_eq!(get(&kv, "ns", &format!("key{i:06}"), NOW), Some(format!("value {i}")), "key {i}");
    }
}

#[test]
fn namespaces_sharing_leading_bytes_stay_apart() {
    let dir = TempDir::new("prefixes");
    let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
    // With plain concatenation these would be the same stored key.
    put(&kv, "a", "bc", "in a");
    put(&kv, "ab", "c", "in ab");
    put(&kv, "", "abc", "in the empty namespace");
    put(&kv, "a\u{0}", "x", "in a + NUL");
    assert_eq!(get(&kv, "a", "bc", NOW).as_deref(), Some("in a"));
    assert_eq!(get(&kv, "ab", "c", NOW).as_deref(), Some("in ab"));
    assert_eq!(get(&kv, "a", "b", NOW), None);
    assert_eq!(list_all(&kv, "a", None, 1000, NOW), ["bc"]);
    assert_eq!(list_all(&kv, "ab", None, 1000, NOW), ["c"]);
    assert_eq!(list_all(&kv, "", None, 1000, NOW), ["abc"]);
    assert_eq!(list_all(&kv, "a\u{0}", None, 1000, NOW), ["x"]);
    kv.delete("a", "bc").unwrap();
    assert_eq!(get(&kv, "ab", "c", NOW).as_deref(), Some("in ab"));
}

const MARKER: &[u8] = b"kv-core format";

/// A record in the storage format: no expiration, no metadata, `value`.
fn plain_record(value: &str) -> Vec<u8> {
    [&[0u8][..], value.as_bytes()].concat()
}

/// Writes a database the way versions with one tree per namespace did
/// (format 1: namespace `<ns>` in the tree `kv/<ns>`).
fn write_format_1(path: &Path, namespaces: &[(&str, &[(&str, Vec<u8>)])]) {
    let db = ::sled::open(path).unwrap();
    db.insert(MARKER, b"1").unwrap();
    for (namespace, entries) in namespaces {
        let tree = db.open_tree(format!("kv/{namespace}")).unwrap();
        for (key, record) in *entries {
            tree.insert(key, record.clone()).unwrap();
        }
    }
    db.open_tree("registry/namespaces").unwrap().insert("ns", "Title").unwrap();
    db.flush().unwrap();
}

#[test]
fn a_database_with_a_tree_per_namespace_is_converted() {
    let dir = TempDir::new("format-1");
    let expiration = NOW.seconds() + 3600;
    let mut with_metadata = vec![0b11];
    with_metadata.extend_from_slice(&expiration.to_be_bytes());
    with_metadata.extend_from_slice(&7u32.to_be_bytes());
    with_metadata.extend_from_slice(br#"{"a":1}v"#);
    let ns_entries = [("b", plain_record("2")), ("a", plain_record("1")), ("meta", with_metadata)];
    let other_entries = [("a", plain_record("other"))];
    write_format_1(dir.path(), &[("ns", &ns_entries), ("ns2", &other_entries), ("n", &[])]);
    {
        let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
        assert_eq!(get(&kv, "ns", "a", NOW).as_deref(), Some("1"));
        assert_eq!(get(&kv, "ns2", "a", NOW).as_deref(), Some("other"));
        let entry = kv.get("ns", "meta", None, NOW).unwrap().unwrap();
        assert_eq!((&entry.value[..], entry.expiration), (&b"v"[..], Some(expiration)));
        assert_eq!(entry.metadata.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(list_all(&kv, "ns", None, 1000, NOW), ["a", "b", "meta"]);
        assert_eq!(list_all(&kv, "n", None, 1000, NOW), Vec::<String>::new());
        let titles = kv_core::storage::NamespaceAdmin::namespaces(kv.storage()).unwrap();
        assert_eq!(titles.len(), 1);
        put(&kv, "ns", "c", "3");
    }
    // Converted once: the old trees are emptied, the marker says format 2.
    {
        let db = ::sled::open(dir.path()).unwrap();
        assert_eq!(db.get(MARKER).unwrap().as_deref(), Some(&b"2"[..]));
        for name in db.tree_names().iter().filter(|name| name.starts_with(b"kv/")) {
            assert!(db.open_tree(name).unwrap().is_empty(), "{:?}", String::from_utf8_lossy(name));
        }
        assert!(!db.open_tree("entries").unwrap().is_empty());
    }
    let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
    assert_eq!(list_all(&kv, "ns", None, 1000, NOW), ["a", "b", "c", "meta"]);
}

#[test]
fn old_trees_left_after_converting_are_not_copied_again() {
    // A crash after the marker was set to 2, before the old trees were dropped.
    let dir = TempDir::new("format-1-leftover");
    write_format_1(dir.path(), &[("ns", &[("stale", plain_record("old"))])]);
    {
        let db = ::sled::open(dir.path()).unwrap();
        db.insert(MARKER, b"2").unwrap();
        db.flush().unwrap();
    }
    let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
    assert_eq!(get(&kv, "ns", "stale", NOW), None);
    assert_eq!(list_all(&kv, "ns", None, 1000, NOW), Vec::<String>::new());
}

#[test]
fn a_newer_format_gets_a_clear_error() {
    let dir = TempDir::new("format-3");
    {
        let db = ::sled::open(dir.path()).unwrap();
        db.insert(MARKER, b"3").unwrap();
        db.flush().unwrap();
    }
    let message = SledStorage::open(dir.path()).err().unwrap().to_string();
    assert!(message.ends_with("has format version \"3\", which this version cannot read: use a new path"), "{message}");
}

/// Overwrites `file` in a database that held data with junk of the same size.
fn damaged_database(file: &str) -> TempDir {
    let dir = TempDir::new(&format!("corrupt-{file}"));
    {
        let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
        put(&kv, "ns", "k", "v");
    }
    let path = dir.path().join(file);
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, vec![0xA5u8; len.max(64)]).unwrap();
    dir
}

#[test]
fn a_corrupt_database_gets_a_clear_error() {
    // Damage to `conf` is caught by sled itself; damage to the log (`db`) makes
    // sled 0.34 silently open an empty database, which the format marker catches.
    for file in ["conf", "db"] {
        let dir = damaged_database(file);
        let message = SledStorage::open(dir.path()).err().expect("a damaged database must not open").to_string();
        let canonical = std::fs::canonicalize(dir.path()).unwrap();
        let expected_start = format!("sled database at {} is corrupt or unreadable", canonical.display());
        assert!(message.starts_with(&expected_start), "{file}: {message}");
        assert!(message.contains("delete the directory"), "{file}: {message}");
        // The failed open left nothing locked or registered: after clearing
        // the directory the path works again.
        std::fs::remove_dir_all(dir.path()).unwrap();
        let kv = Kv::new(SledStorage::open(dir.path()).unwrap());
        assert_eq!(get(&kv, "ns", "k", NOW), None);
    }
}

#[test]
fn a_path_that_is_a_file_gets_a_clear_error() {
    let dir = TempDir::new("file");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let message = SledStorage::open(&file).err().unwrap().to_string();
    assert!(message.starts_with(&format!("Could not open sled database at {}", file.display())), "{message}");
}

#[test]
fn location_names_the_path() {
    let dir = TempDir::new("location");
    let storage = SledStorage::open(dir.path()).unwrap();
    let canonical = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(storage.location(), format!("sled:{}", canonical.display()));
}
