//! Resource use stays reasonable however many namespaces a process uses (a
//! dev server with a namespace registry, or a test run with a namespace per
//! test worker, can touch thousands). Both defects guarded here were found by
//! the long model-based run, which uses a new namespace for every sequence,
//! and are fixed:
//! - directory: after ~20,000 namespaces every operation failed with "Too
//!   many open files" (one lock file was kept open per namespace; now at most
//!   32 per storage);
//! - sled: disk use grew with the square of the number of namespaces (each
//!   new tree rewrote sled's table of trees): ~80,000 namespaces with a few
//!   puts each filled a 250 GB disk (now one tree holds every namespace).

#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::sync::Mutex;

use kv_core::storage::{DirStorage, SledStorage};
use kv_core::{Bytes, Kv, Now, PutOptions, Storage};

const NAMESPACES: usize = 2000;
/// Descriptors a backend may open for its own bookkeeping, whatever the
/// number of namespaces.
const ALLOWED_GROWTH: usize = 64;

/// Descriptors are counted for the whole process: one test at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("kv-resources-test-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes, reads and lists in `NAMESPACES` namespaces; returns how many
/// descriptors the storage gained while still open.
fn descriptor_growth(storage: impl Storage) -> usize {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let kv = Kv::new(storage);
    let now = Now(1_700_000_000_000.0);
    // One namespace first, so the storage's fixed descriptors are counted in the baseline.
    kv.put("warm-up", "k", Bytes::from_static(b"v"), PutOptions::default(), now).unwrap();
    let before = open_descriptors();
    for n in 0..NAMESPACES {
        let ns = format!("ns-{n}");
        kv.put(&ns, "k", Bytes::from_static(b"v"), PutOptions::default(), now).unwrap();
        assert!(kv.get(&ns, "k", None, now).unwrap().is_some());
        assert_eq!(kv.list(&ns, Default::default(), now).unwrap().keys.len(), 1);
    }
    open_descriptors().saturating_sub(before)
}

#[test]
fn sled_descriptors_do_not_grow_with_namespaces() {
    let dir = TempDir::new("sled");
    let growth = descriptor_growth(SledStorage::open(dir.0.join("db")).unwrap());
    assert!(growth <= ALLOWED_GROWTH, "{growth} more open descriptors after {NAMESPACES} namespaces");
}

#[test]
fn directory_descriptors_do_not_grow_with_namespaces() {
    let dir = TempDir::new("dir");
    let growth = descriptor_growth(DirStorage::open(dir.0.join("kv")).unwrap());
    assert!(growth <= ALLOWED_GROWTH, "{growth} more open descriptors after {NAMESPACES} namespaces");
}

fn disk_use(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let metadata = entry.metadata().unwrap();
            if metadata.is_dir() {
                disk_use(&entry.path())
            } else {
                metadata.len()
            }
        })
        .sum()
}

/// One small put into each of 4,000 namespaces: 4,000 × 5 bytes of data.
/// With a sled tree per namespace this took ~105 MB (2,000: ~24 MB; 8,000:
/// ~460 MB); with every namespace in one tree, ~1.1 MB (2,000: 0.4 MB; 8,000: 2.6 MB).
#[test]
fn sled_disk_use_grows_linearly_with_namespaces() {
    let dir = TempDir::new("sled-disk");
    let path = dir.0.join("db");
    {
        let kv = Kv::new(SledStorage::open(&path).unwrap());
        let now = Now(1_700_000_000_000.0);
        for n in 0..4000 {
            kv.put(&format!("ns-{n}"), "k", Bytes::from_static(b"value"), PutOptions::default(), now).unwrap();
        }
    }
    let bytes = disk_use(&path);
    assert!(bytes < 20_000_000, "{bytes} bytes on disk for 4,000 namespaces of one 5-byte value each");
}
