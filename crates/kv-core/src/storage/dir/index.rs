//! The in-memory index that answers `list` for one namespace directory.
//!
//! A scan walks the directory (recursively, for Miniflare 2's nested layout)
//! and pairs value files with their meta files. Meta files are the only files
//! read, and a rescan re-reads only those whose identity (inode, size, mtime)
//! changed; see [`CachedMeta`] for why that is safe against inode reuse.
//! When the index may be reused is decided by the caller (`dir.rs`), from the
//! namespace's generation counter and the directories' stamps kept here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::meta::MetaFile;
use super::names::{self, META_SUFFIX};
use super::{io_error, is_temp_name, join_rel};
use crate::entry::UnixSeconds;
use crate::error::{KvError, Result};

/// How far apart a file's mtime and the moment we read it must be before its
/// identity can be trusted: a file replaced within the same clock tick by one
/// of the same size that reused its inode would otherwise look unchanged.
/// File-system timestamps are at worst 10 ms coarse on local Linux and
/// macOS file systems; this leaves a wide margin.
const RACY_MARGIN: Duration = Duration::from_millis(100);

/// One key as listed.
#[derive(Debug, Clone)]
pub struct Indexed {
    /// Value file, relative to the namespace directory (`/`-separated).
    pub rel: String,
    pub expiration: Option<UnixSeconds>,
    pub metadata: Option<Arc<str>>,
}

/// Identity of a file as `stat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub ino: u64,
    pub size: u64,
    pub mtime: Option<SystemTime>,
}

impl FileStamp {
    pub fn of(md: &fs::Metadata) -> FileStamp {
        FileStamp { ino: inode(md), size: md.len(), mtime: md.modified().ok() }
    }
}

#[cfg(unix)]
pub fn inode(md: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(md)
}

#[cfg(not(unix))]
pub fn inode(_md: &fs::Metadata) -> u64 {
    0
}

/// A parsed meta file and when it was read.
#[derive(Debug, Clone)]
pub struct CachedMeta {
    pub stamp: FileStamp,
    pub read_at: SystemTime,
    /// The parse error, for meta files that are not what they should be.
    pub meta: std::result::Result<MetaFile, String>,
    /// Known to be the file's content right now (from an index saved at
    /// the current generation): valid whenever the stamp matches.
    pub exact: bool,
}

impl CachedMeta {
    pub fn new(stamp: FileStamp, read_at: SystemTime, meta: std::result::Result<MetaFile, String>) -> CachedMeta {
        CachedMeta { stamp, read_at, meta, exact: false }
    }

    /// Whether this cached content still describes a file whose stamp is
    /// `stamp`: same identity, and the file was old enough when read that a
    /// later replacement cannot share its mtime.
    fn still_valid(&self, stamp: &FileStamp) -> bool {
        match (self.stamp == *stamp, stamp.mtime) {
            (true, _) if self.exact => true,
            (true, Some(mtime)) => mtime + RACY_MARGIN < self.read_at,
            _ => false,
        }
    }
}

pub struct Index {
    /// Every key found, expired or not, in UTF-8 byte order.
    pub entries: BTreeMap<String, Indexed>,
    /// Every meta file seen by the last scan, by relative path.
    pub metas: HashMap<String, CachedMeta>,
    /// Generation counter of the namespace when this was scanned.
    pub gen: u64,
    /// False when the scan overlapped a write, or a write of ours could not
    /// be applied here exactly: the next `list` rescans.
    pub stable: bool,
    /// Stamps of the namespace directory and every subdirectory, which
    /// reveal changes made without the counter (by hand, by Miniflare 2).
    pub dirs: Vec<(String, Option<DirStamp>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirStamp {
    ino: u64,
    mtime: Option<SystemTime>,
}

pub fn dir_stamp(path: &Path) -> Result<Option<DirStamp>> {
    match fs::metadata(path) {
        Ok(md) => Ok(Some(DirStamp { ino: inode(&md), mtime: md.modified().ok() })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

impl Index {
    /// Whether no directory changed since the scan.
    pub fn dirs_unchanged(&self, root: &Path) -> Result<bool> {
        for (rel, stamp) in &self.dirs {
            if dir_stamp(&join_rel(root, rel))? != *stamp {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Re-reads the top directory's stamp after a write of our own.
    pub fn restamp_top(&mut self, root: &Path) -> Result<()> {
        let stamp = dir_stamp(root)?;
        match self.dirs.first_mut() {
            Some((rel, top)) if rel.is_empty() => *top = stamp,
            _ => self.stable = false,
        }
        Ok(())
    }

    /// A key's value file when it is not at `canonical` (a Miniflare 2 file).
    pub fn misplaced(&self, key: &str, canonical: &str) -> Option<&str> {
        self.entries.get(key).map(|e| e.rel.as_str()).filter(|rel| *rel != canonical)
    }

    /// Walks `root` and builds the index, reusing meta files from
    /// `old_metas` whose identity did not change. Also returns how many meta
    /// files had to be read.
    pub fn scan(root: &Path, gen: u64, mut old_metas: HashMap<String, CachedMeta>) -> Result<(Index, usize)> {
        let mut walk = Walk::default();
        walk.dir(root, "")?;
        let mut metas = HashMap::with_capacity(walk.metas.len());
        let mut reads = 0;
        let scanned_at = SystemTime::now();
        for (rel, stamp) in walk.metas {
            let cached = match old_metas.remove(&rel) {
                // Exact only for this scan: later replacements are judged by
                // the mtime rule, from now on.
                Some(cached) if cached.still_valid(&stamp) && cached.exact => {
                    CachedMeta { read_at: scanned_at, exact: false, ..cached }
                }
                Some(cached) if cached.still_valid(&stamp) => cached,
                _ => {
                    let path = join_rel(root, &rel);
                    let read_at = SystemTime::now();
                    reads += 1;
                    match fs::read(&path) {
                        Ok(text) => CachedMeta::new(stamp, read_at, MetaFile::parse(&text)),
                        // Removed since the walk: a concurrent write; the
                        // caller sees the counter move and rescans.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_error("read", &path, e)),
                    }
                }
            };
            metas.insert(rel, cached);
        }

        let temps: HashSet<&str> = walk.temps.iter().map(String::as_str).collect();
        let mut entries: BTreeMap<String, Indexed> = BTreeMap::new();
        let mut add = |owner: String, indexed: Indexed| {
            let canonical = |e: &Indexed, owner: &str| names::file_name(owner).as_deref() == Some(e.rel.as_str());
            match entries.get(&owner) {
                // Two files claim one key (a Miniflare 2 file and its
                // replacement, if a crash interrupted the replacement):
                // the file at the key's own place wins.
                Some(existing)
                    if canonical(existing, &owner) || (!canonical(&indexed, &owner) && existing.rel < indexed.rel) => {}
                _ => {
                    entries.insert(owner, indexed);
                }
            }
        };
        for rel in &walk.values {
            let meta_rel = format!("{rel}{META_SUFFIX}");
            let meta = match metas.get(&meta_rel).map(|c| &c.meta) {
                Some(Ok(meta)) => Some(meta),
                Some(Err(why)) => {
                    return Err(KvError::Storage(format!(
                        "KV directory storage: corrupt metadata file {}: {why}",
                        join_rel(root, &meta_rel).display()
                    )))
                }
                None => None,
            };
            let owner = meta.and_then(|m| m.key.clone()).unwrap_or_else(|| rel.clone());
            let (expiration, metadata) = meta.map(|m| (m.expiration, m.metadata.clone())).unwrap_or_default();
            add(owner, Indexed { rel: rel.clone(), expiration, metadata });
        }
        // A new key whose write stopped after its meta file was renamed into
        // place: the write is committed, its value waits in a temporary file.
        for (meta_rel, cached) in &metas {
            let Ok(meta) = &cached.meta else { continue };
            let Some(from) = meta.value_from.as_deref() else { continue };
            let rel = &meta_rel[..meta_rel.len() - META_SUFFIX.len()];
            if !rel.contains('/') && temps.contains(from) && !walk.value_set.contains(rel) {
                let owner = meta.key.clone().unwrap_or_else(|| rel.to_owned());
                add(
                    owner,
                    Indexed { rel: rel.to_owned(), expiration: meta.expiration, metadata: meta.metadata.clone() },
                );
            }
        }
        Ok((Index { entries, metas, gen, stable: true, dirs: walk.dirs }, reads))
    }
}

// ---------------------------------------------------------------------------
// Saved index: the parsed meta files, saved so that the next process need not
// read them all again. Only a cache: every entry is used only if its file's
// stamp still matches, and only as freely as `exact` allows.
//
// Format: a line `kv-index 1 <generation>`, then one line per meta file:
// `<exact 0|1>\t<inode>\t<size>\t<mtime ns|->\t<read_at ns>\t<path JSON>\t<meta JSON>`.

const SAVED_INDEX_HEADER: &str = "kv-index 1";

fn nanos(t: SystemTime) -> Option<u128> {
    t.duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_nanos())
}

fn from_nanos(n: u128) -> Option<SystemTime> {
    let secs = u64::try_from(n / 1_000_000_000).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, (n % 1_000_000_000) as u32))
}

/// The saved-index text for `metas` as of generation `gen`; `exact` marks the
/// entries known to match their files at that generation.
pub fn render_saved_index<'a>(gen: u64, metas: impl Iterator<Item = (&'a String, &'a CachedMeta, bool)>) -> String {
    let mut out = format!("{SAVED_INDEX_HEADER} {gen}\n");
    for (rel, cached, exact) in metas {
        let Ok(meta) = &cached.meta else { continue };
        let (Some(read_at), mtime) = (nanos(cached.read_at), cached.stamp.mtime.and_then(nanos)) else { continue };
        let mtime = mtime.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let rel_json = serde_json::to_string(rel).unwrap_or_default();
        out.push_str(&format!(
            "{}\t{}\t{}\t{mtime}\t{read_at}\t{rel_json}\t{}\n",
            u8::from(exact),
            cached.stamp.ino,
            cached.stamp.size,
            meta.render()
        ));
    }
    out
}

/// Parses a saved index; entries marked exact stay exact only if the namespace
/// is still at the saved index's generation. Anything unreadable is skipped.
pub fn parse_saved_index(text: &str, current_gen: u64) -> HashMap<String, CachedMeta> {
    let mut lines = text.lines();
    let saved_gen = lines
        .next()
        .and_then(|header| header.strip_prefix(SAVED_INDEX_HEADER))
        .and_then(|gen| gen.trim().parse::<u64>().ok());
    let Some(saved_gen) = saved_gen else { return HashMap::new() };
    let mut metas = HashMap::new();
    for line in lines {
        let fields: Vec<&str> = line.splitn(7, '\t').collect();
        let [exact, ino, size, mtime, read_at, rel, meta] = fields[..] else { continue };
        let parsed = (|| {
            let stamp = FileStamp {
                ino: ino.parse().ok()?,
                size: size.parse().ok()?,
                mtime: if mtime == "-" { None } else { from_nanos(mtime.parse().ok()?) },
            };
            let read_at = from_nanos(read_at.parse().ok()?)?;
            let rel: String = serde_json::from_str(rel).ok()?;
            let meta = MetaFile::parse(meta.as_bytes()).ok()?;
            Some((rel, CachedMeta { stamp, read_at, meta: Ok(meta), exact: exact == "1" && saved_gen == current_gen }))
        })();
        if let Some((rel, cached)) = parsed {
            metas.insert(rel, cached);
        }
    }
    metas
}

#[derive(Default)]
struct Walk {
    values: Vec<String>,
    value_set: HashSet<String>,
    metas: Vec<(String, FileStamp)>,
    dirs: Vec<(String, Option<DirStamp>)>,
    temps: Vec<String>,
}

impl Walk {
    fn dir(&mut self, root: &Path, rel_dir: &str) -> Result<()> {
        let path = join_rel(root, rel_dir);
        let stamp = dir_stamp(&path)?;
        self.dirs.push((rel_dir.to_owned(), stamp));
        if stamp.is_none() {
            return Ok(());
        }
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("list", &path, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list", &path, e))?;
            // Keys are strings; a name that is not UTF-8 was not written by
            // a KV implementation and cannot be addressed by one.
            let Ok(name) = entry.file_name().into_string() else { continue };
            if names::is_internal(&name) {
                if rel_dir.is_empty() && is_temp_name(&name) {
                    self.temps.push(name);
                }
                continue;
            }
            let rel = if rel_dir.is_empty() { name.clone() } else { format!("{rel_dir}/{name}") };
            let mut file_type = entry.file_type().map_err(|e| io_error("read", &entry.path(), e))?;
            let mut md = None;
            if file_type.is_symlink() {
                // Followed for files only: a linked directory could loop or
                // lead outside the namespace.
                match fs::metadata(entry.path()) {
                    Ok(target) if target.is_file() => {
                        file_type = target.file_type();
                        md = Some(target);
                    }
                    _ => continue,
                }
            }
            if file_type.is_dir() {
                self.dir(root, &rel)?;
            } else if name.ends_with(META_SUFFIX) {
                let md = match md {
                    Some(md) => md,
                    None => match entry.metadata() {
                        Ok(md) => md,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_error("read", &entry.path(), e)),
                    },
                };
                self.metas.push((rel, FileStamp::of(&md)));
            } else {
                self.value_set.insert(rel.clone());
                self.values.push(rel);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_meta_file_is_trusted_only_if_it_was_old_when_read() {
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let stamp = FileStamp { ino: 7, size: 40, mtime: Some(mtime) };
        let cached = |read_at| CachedMeta::new(stamp, read_at, Ok(MetaFile::default()));
        // Read in the same instant it was written: a replacement with the
        // same inode, size and (coarse) mtime would be indistinguishable.
        assert!(!cached(mtime + Duration::from_millis(3)).still_valid(&stamp));
        assert!(!cached(mtime + Duration::from_millis(99)).still_valid(&stamp));
        assert!(cached(mtime + Duration::from_secs(2)).still_valid(&stamp));
        let replaced = FileStamp { ino: 8, ..stamp };
        assert!(!cached(mtime + Duration::from_secs(2)).still_valid(&replaced));
        assert!(!cached(mtime + Duration::from_secs(2)).still_valid(&FileStamp { mtime: None, ..stamp }));
        // An entry known exact is trusted despite a recent mtime,
        // but never for another file.
        let exact = CachedMeta { exact: true, ..cached(mtime) };
        assert!(exact.still_valid(&stamp));
        assert!(!exact.still_valid(&replaced));
    }

    #[test]
    fn saved_indexes_round_trip_and_lose_exactness_when_the_generation_moved() {
        let stamp =
            FileStamp { ino: 9, size: 51, mtime: Some(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5)) };
        let meta =
            MetaFile { key: Some("a\tb\n".into()), metadata: Some("{\"x\":\"\\n\"}".into()), ..Default::default() };
        let cached = CachedMeta::new(stamp, SystemTime::UNIX_EPOCH + Duration::new(1_700_000_001, 7), Ok(meta.clone()));
        let rel = "a%09b%0A".to_owned();
        let text = render_saved_index(6, [(&rel, &cached, true)].into_iter());
        let same = parse_saved_index(&text, 6);
        let loaded = &same[&rel];
        assert_eq!((loaded.stamp, loaded.read_at, loaded.exact), (stamp, cached.read_at, true));
        assert_eq!(loaded.meta, Ok(meta));
        assert!(!parse_saved_index(&text, 8)[&rel].exact);
        assert!(parse_saved_index("garbage", 6).is_empty());
        assert!(parse_saved_index(&format!("{text}1\tbroken line\n"), 6).len() == 1);
    }
}
