//! Crash consistency of the write protocol.
//!
//! A [`CrashSwitch`] makes a `DirStorage` stop at its N-th checkpoint (each
//! checkpoint precedes one file-system change: create, write, rename, remove,
//! counter update) and fail every later one, as if the process had been
//! killed there: nothing is cleaned up, the lock is released when the storage
//! is dropped, as the kernel would. Each scenario is run for every N until the
//! operation completes, and a fresh `DirStorage` on the same directory (a new
//! process) must then see the old entry or the new one:
//! - while the lock is still held by someone else (the "writer" could merely
//!   be paused), so the reader cannot repair and must use the read rules;
//! - after taking the lock (recovery), which must leave no temporary files and
//!   must not change what was seen.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::*;
use crate::list::ListRequest;

#[derive(Default)]
pub(super) struct CrashSwitch {
    /// Checkpoints left before the crash; `None` = never crash.
    left: Mutex<Option<usize>>,
}

impl CrashSwitch {
    pub(super) fn checkpoint(&self) -> Result<()> {
        let mut left = lock(&self.left);
        match left.as_mut() {
            Some(0) => Err(KvError::storage("simulated crash")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn arm(&self, steps: usize) {
        *lock(&self.left) = Some(steps);
    }
}

pub(super) struct TempRoot(pub PathBuf);

impl TempRoot {
    pub(super) fn new(tag: &str) -> TempRoot {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("kv-dir-unit-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempRoot(path)
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const NS: &str = "NS";
const NOW: Now = Now(1_000_000_000_000.0);

fn entry(value: &str, expiration: Option<i64>, metadata: Option<&str>) -> Entry {
    Entry { value: Bytes::copy_from_slice(value.as_bytes()), expiration, metadata: metadata.map(Arc::from) }
}

fn listed(storage: &DirStorage, key: &str) -> Option<ListedKey> {
    let request = ListRequest::new(Some(key.to_owned()), None, None).unwrap();
    storage.list_range(NS, &request, NOW).unwrap().into_iter().find(|k| k.name == key)
}

fn temp_files(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            entries.map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| is_temp_name(n)).collect()
        }
        Err(_) => Vec::new(),
    }
}

/// What a reader may see of `key`, and checks that get and list agree.
fn observe(storage: &DirStorage, key: &str) -> Option<Entry> {
    let got = storage.get(NS, key, NOW).unwrap();
    let in_list = listed(storage, key);
    match &got {
        Some(e) => assert_eq!(in_list, Some(e.listed(key)), "list disagrees with get for {key:?}"),
        None => assert_eq!(in_list, None, "list shows {key:?}, get does not"),
    }
    got
}

struct Scenario<'a> {
    name: &'a str,
    setup: &'a dyn Fn(&DirStorage, &Path),
    op: &'a dyn Fn(&DirStorage) -> Result<()>,
    /// Keys to check, each with the entries allowed (old, new).
    expect: &'a [(&'a str, Option<Entry>, Option<Entry>)],
}

fn run(scenario: Scenario) {
    for step in 0.. {
        let root = TempRoot::new("crash");
        let completed = {
            let storage = DirStorage::open(&root.0).unwrap();
            (scenario.setup)(&storage, &root.0);
            storage.crash.arm(step);
            (scenario.op)(&storage).is_ok()
        };
        let ns_dir = root.0.join(NS);

        // 1. Someone still holds the lock: the reader cannot repair.
        let seen: Vec<Option<Entry>> = {
            let holder = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(ns_dir.join(LOCK_FILE))
                .unwrap();
            holder.lock().unwrap();
            let reader = DirStorage::open(&root.0).unwrap();
            let seen = scenario
                .expect
                .iter()
                .map(|(key, old, new)| {
                    let got = observe(&reader, key);
                    assert!(
                        got == *old || got == *new,
                        "{}: crash before step {step}: {key:?} reads {got:?}, expected {old:?} or {new:?}",
                        scenario.name
                    );
                    got
                })
                .collect();
            holder.unlock().unwrap();
            seen
        };

        // 2. A new process takes the lock (a write elsewhere): recovery.
        let reader = DirStorage::open(&root.0).unwrap();
        reader.put(NS, "unrelated", entry("x", None, None)).unwrap();
        assert_eq!(temp_files(&ns_dir), Vec::<String>::new(), "{}: step {step}: temp files left", scenario.name);
        for ((key, _, _), before) in scenario.expect.iter().zip(&seen) {
            assert_eq!(observe(&reader, key), *before, "{}: step {step}: recovery changed {key:?}", scenario.name);
        }
        if completed {
            for (key, _, new) in scenario.expect {
                assert_eq!(observe(&reader, key), *new, "{}: completed op", scenario.name);
            }
            assert!(step > 2, "{}: the operation has checkpoints", scenario.name);
            return;
        }
    }
}

#[test]
fn put_of_a_new_key_with_metadata() {
    let new = entry("new", Some(2_000_000_000), Some(r#"{"v":2}"#));
    run(Scenario {
        name: "new key",
        setup: &|s, _| s.put(NS, "other", entry("o", None, None)).unwrap(),
        op: &|s| s.put(NS, "k", new.clone()),
        expect: &[
            ("k", None, Some(new.clone())),
            ("other", Some(entry("o", None, None)), Some(entry("o", None, None))),
        ],
    });
}

#[test]
fn put_of_a_new_plain_key() {
    let new = entry("new", None, None);
    run(Scenario {
        name: "new plain key",
        setup: &|_, _| {},
        op: &|s| s.put(NS, "k", new.clone()),
        expect: &[("k", None, Some(new.clone()))],
    });
}

#[test]
fn overwrite_metadata_with_metadata() {
    let old = entry("old value", Some(2_000_000_000), Some(r#"{"v":1}"#));
    let new = entry("new value", None, Some(r#"{"v":2}"#));
    run(Scenario {
        name: "meta → meta",
        setup: &|s, _| s.put(NS, "k", old.clone()).unwrap(),
        op: &|s| s.put(NS, "k", new.clone()),
        expect: &[("k", Some(old.clone()), Some(new.clone()))],
    });
}

#[test]
fn overwrite_metadata_with_plain_value() {
    let old = entry("old", Some(2_000_000_000), Some(r#"[1]"#));
    let new = entry("new", None, None);
    run(Scenario {
        name: "meta → plain",
        setup: &|s, _| s.put(NS, "k", old.clone()).unwrap(),
        op: &|s| s.put(NS, "k", new.clone()),
        expect: &[("k", Some(old.clone()), Some(new.clone()))],
    });
}

#[test]
fn overwrite_plain_value_with_metadata() {
    let old = entry("old", None, None);
    let new = entry("new", Some(2_000_000_000), Some(r#""m""#));
    run(Scenario {
        name: "plain → meta",
        setup: &|s, _| s.put(NS, "k", old.clone()).unwrap(),
        op: &|s| s.put(NS, "k", new.clone()),
        expect: &[("k", Some(old.clone()), Some(new.clone()))],
    });
}

#[test]
fn same_value_new_metadata() {
    let old = entry("same", None, Some(r#"{"v":1}"#));
    let new = entry("same", None, Some(r#"{"v":2}"#));
    run(Scenario {
        name: "same value",
        setup: &|s, _| s.put(NS, "k", old.clone()).unwrap(),
        op: &|s| s.put(NS, "k", new.clone()),
        expect: &[("k", Some(old.clone()), Some(new.clone()))],
    });
}

#[test]
fn overwrite_of_a_key_with_a_hashed_file_name() {
    let key = "😀".repeat(128);
    let old = entry("old", None, None);
    let new = entry("new", None, Some("1"));
    run(Scenario {
        name: "hashed name",
        setup: &|s, _| s.put(NS, &key, old.clone()).unwrap(),
        op: &|s| s.put(NS, &key, new.clone()),
        expect: &[(&key, Some(old.clone()), Some(new.clone()))],
    });
}

#[test]
fn delete_of_an_entry_with_metadata() {
    let old = entry("old", Some(2_000_000_000), Some(r#"{"v":1}"#));
    run(Scenario {
        name: "delete",
        setup: &|s, _| s.put(NS, "k", old.clone()).unwrap(),
        op: &|s| s.delete(NS, "k"),
        expect: &[("k", Some(old.clone()), None)],
    });
}

#[test]
fn replacing_a_miniflare2_file() {
    let new = entry("new", None, None);
    run(Scenario {
        name: "legacy replace",
        setup: &|_, root| {
            fs::create_dir_all(root.join("NS/a")).unwrap();
            fs::write(root.join("NS/a/b"), "legacy").unwrap();
            fs::write(root.join("NS/a/b.meta.json"), r#"{"key":"a/b","metadata":"old"}"#).unwrap();
        },
        op: &|s| s.put(NS, "a/b", new.clone()),
        expect: &[("a/b", Some(entry("legacy", None, Some(r#""old""#))), Some(new.clone()))],
    });
}

#[test]
fn moving_a_miniflare2_file_out_of_the_way() {
    // Miniflare 2 stored "com1.txt" at "_"; "_" is the own file name of key "_".
    let moved = entry("v-com1", None, None);
    let new = entry("underscore", None, None);
    run(Scenario {
        name: "relocate",
        setup: &|_, root| {
            fs::create_dir_all(root.join("NS")).unwrap();
            fs::write(root.join("NS/_"), "v-com1").unwrap();
            fs::write(root.join("NS/_.meta.json"), r#"{"key":"com1.txt"}"#).unwrap();
        },
        op: &|s| s.put(NS, "_", new.clone()),
        expect: &[("_", None, Some(new.clone())), ("com1.txt", Some(moved.clone()), Some(moved.clone()))],
    });
}

#[test]
fn moving_a_miniflare2_directory_out_of_the_way() {
    let nested = entry("v-ab", None, None);
    let new = entry("a", None, None);
    run(Scenario {
        name: "relocate tree",
        setup: &|_, root| {
            fs::create_dir_all(root.join("NS/a/x")).unwrap();
            fs::write(root.join("NS/a/b"), "v-ab").unwrap();
            fs::write(root.join("NS/a/x/y"), "v-axy").unwrap();
            fs::write(root.join("NS/a/x/y.meta.json"), r#"{"key":"a:x:y","expiration":2000000000}"#).unwrap();
        },
        op: &|s| s.put(NS, "a", new.clone()),
        expect: &[
            ("a", None, Some(new.clone())),
            ("a/b", Some(nested.clone()), Some(nested.clone())),
            ("a:x:y", Some(entry("v-axy", Some(2_000_000_000), None)), Some(entry("v-axy", Some(2_000_000_000), None))),
        ],
    });
}

/// A directory where a put of `new` over `old` stopped right after its
/// commit point: the new meta file is in place, the value file is still old.
fn interrupted_after_commit(old: &Entry, new: &Entry) -> TempRoot {
    for step in 0.. {
        let root = TempRoot::new("committed");
        let s = DirStorage::open(&root.0).unwrap();
        s.put(NS, "k", old.clone()).unwrap();
        s.crash.arm(step);
        assert!(s.put(NS, "k", new.clone()).is_err(), "the put finished before its commit point was seen");
        let meta = MetaFile::parse(&fs::read(root.0.join("NS/k.meta.json")).unwrap()).unwrap();
        if meta.metadata == new.metadata && fs::read(root.0.join("NS/k")).unwrap() == old.value {
            return root;
        }
    }
    unreachable!()
}

#[test]
fn interrupted_recovery_is_finished_by_the_next_one() {
    let old = entry("old", None, Some("1"));
    let new = entry("new", None, Some("2"));
    for recovery_step in 0.. {
        let root = interrupted_after_commit(&old, &new);
        let completed = {
            let s = DirStorage::open(&root.0).unwrap();
            s.crash.arm(recovery_step);
            s.put(NS, "unrelated", entry("u", None, None)).is_ok()
        };
        let s = DirStorage::open(&root.0).unwrap();
        assert_eq!(observe(&s, "k"), Some(new.clone()), "recovery crashed before step {recovery_step}");
        s.put(NS, "unrelated", entry("u", None, None)).unwrap();
        assert_eq!(temp_files(&root.0.join(NS)), Vec::<String>::new());
        assert_eq!(observe(&s, "k"), Some(new.clone()));
        if completed {
            return;
        }
    }
}

#[test]
fn a_reader_finishes_a_dead_writers_put() {
    let old = entry("old", None, Some("1"));
    let new = entry("new", None, Some("2"));
    let root = interrupted_after_commit(&old, &new);
    let s = DirStorage::open(&root.0).unwrap();
    assert_eq!(s.get(NS, "k", NOW).unwrap(), Some(new.clone()));
    // The get found the lock free and finished the write.
    assert_eq!(fs::read(root.0.join("NS/k")).unwrap(), b"new");
    assert_eq!(temp_files(&root.0.join(NS)), Vec::<String>::new());
}

#[test]
fn the_saved_index_is_trusted_only_while_nothing_changed() {
    let root = TempRoot::new("saved-index");
    let saved_index = root.0.join(NS).join(SAVED_INDEX_FILE);
    {
        let s = DirStorage::open(&root.0).unwrap();
        s.put(NS, "k", entry("v", None, Some(r#"{"v":1}"#))).unwrap();
        s.put(NS, "gone", entry("v", None, Some("1"))).unwrap();
        s.delete(NS, "gone").unwrap();
    } // dropped: saves the index of its own writes
    let text = fs::read_to_string(&saved_index).unwrap();
    assert!(text.contains(r#"{"v":1}"#) && !text.contains("gone"), "{text}");

    // Doctored, with the files unchanged: a fresh process believes it, which
    // shows that it did not read the meta file.
    fs::write(&saved_index, text.replace(r#"{"v":1}"#, r#"{"v":9}"#)).unwrap();
    assert_eq!(listed(&DirStorage::open(&root.0).unwrap(), "k").unwrap().metadata.as_deref(), Some(r#"{"v":9}"#));

    // Once another write moved the generation, entries are checked again
    // (the writer kept the doctored entry, no longer as exact).
    fs::write(&saved_index, text.replace(r#"{"v":1}"#, r#"{"v":9}"#)).unwrap();
    DirStorage::open(&root.0).unwrap().put(NS, "other", entry("o", None, None)).unwrap();
    assert!(fs::read_to_string(&saved_index).unwrap().contains(r#"{"v":9}"#));
    assert_eq!(listed(&DirStorage::open(&root.0).unwrap(), "k").unwrap().metadata.as_deref(), Some(r#"{"v":1}"#));

    // A meta file changed by hand (another size) is read again.
    fs::write(root.0.join("NS/k.meta.json"), r#"{"key":"k","metadata":{"v":"by hand"}}"#).unwrap();
    assert_eq!(
        listed(&DirStorage::open(&root.0).unwrap(), "k").unwrap().metadata.as_deref(),
        Some(r#"{"v":"by hand"}"#)
    );
    // And a damaged saved index is ignored.
    fs::write(&saved_index, "kv-index 1 x\n\u{0}garbage").unwrap();
    assert_eq!(
        listed(&DirStorage::open(&root.0).unwrap(), "k").unwrap().metadata.as_deref(),
        Some(r#"{"v":"by hand"}"#)
    );
    assert_eq!(temp_files(&root.0.join(NS)), Vec::<String>::new());
}

/// Only the most recently used lock files stay open, and a file is never
/// closed (which would release its `flock`) while a writer holds it, even
/// when every cached file is held.
#[test]
fn open_lock_files_are_bounded_and_never_closed_under_a_writer() {
    let root = TempRoot::new("lock-files");
    let s = DirStorage::open(&root.0).unwrap();
    s.put(NS, "k", entry("v", None, None)).unwrap();
    let other_process_can_lock = || {
        let file = fs::OpenOptions::new().read(true).write(true).open(root.0.join(NS).join(LOCK_FILE)).unwrap();
        file.try_lock().is_ok() // closing `file` releases it again
    };
    let ns = s.namespace(NS).unwrap();
    let writer = s.writer_waiting(&ns).unwrap();
    for n in 0..2 * OPEN_LOCK_FILES {
        s.put(&format!("other-{n}"), "k", entry("v", None, None)).unwrap();
    }
    assert_eq!(lock(&s.lock_files.files).len(), OPEN_LOCK_FILES);
    assert!(!other_process_can_lock());
    assert!(lock(&s.lock_files.files).iter().any(|(id, _)| *id == ns.id), "held, so kept");
    // Once every cached file is held, the writer's is evicted too: it stays
    // open and locked.
    let held: Vec<_> = (0..OPEN_LOCK_FILES)
        .map(|n| s.namespace(&format!("other-{n}")).unwrap().writable_lock_file().unwrap())
        .collect();
    assert!(lock(&s.lock_files.files).iter().all(|(id, _)| *id != ns.id));
    assert!(!other_process_can_lock());
    drop(writer);
    assert!(other_process_can_lock());
    drop(held);
    // The namespace reopens its lock file and works as before.
    s.put(NS, "k2", entry("v2", None, None)).unwrap();
    assert_eq!(s.get(NS, "k2", NOW).unwrap(), Some(entry("v2", None, None)));
    assert!(listed(&s, "k").is_some() && listed(&s, "k2").is_some());
    assert!(lock(&s.lock_files.files).len() <= OPEN_LOCK_FILES);
}
