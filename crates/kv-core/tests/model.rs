//! Model-based tests: random sequences of KV operations run against every
//! backend and against a tiny reference model (an ordered map plus a model
//! clock), and every answer must be the same — values, metadata,
//! expirations, list pages, cursors and errors.
//!
//! Each generated sequence gets a namespace of its own in one long-lived
//! store per backend (a temporary directory, a sled database, a private
//! redis-server on a free port), so thousands of sequences are cheap and a
//! sequence also proves that namespaces do not leak into each other.
//!
//! Sequences per backend (CI defaults, below) can be raised for a long run:
//! `KV_MODEL_CASES=100000 cargo test --release -p kv-core --test model`.
//! `KV_MODEL_SEED=<n>` pins the random source so a failing run repeats.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use kv_core::list::encode_cursor;
use kv_core::storage::{DirStorage, RedisStorage, SledStorage};
use kv_core::{
    AsyncKv, Bytes, Entry, Kv, KvError, ListOptions, ListPage, ListedKey, MemoryStorage, Now, PutOptions, Storage,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// Sequences per backend in a default (CI) run. Memory is cheap; the others
/// write files, sled pages or Redis round trips for every operation.
const DEFAULT_CASES_MEMORY: u32 = 100_000;
const DEFAULT_CASES_DIRECTORY: u32 = 2_000;
const DEFAULT_CASES_SLED: u32 = 10_000;
const DEFAULT_CASES_REDIS: u32 = 3_000;
const MAX_OPS_PER_SEQUENCE: usize = 30;
/// Sequences between reopenings of the directory backend, and between fresh sled databases.
const DIRECTORY_REOPEN_EVERY: usize = 1000;
const SLED_REOPEN_EVERY: usize = 1000;
const REDIS_FLUSH_EVERY: usize = 1000;

// ---------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Expiry {
    None,
    /// `expirationTtl`.
    Ttl(i32),
    /// `expiration`, as seconds relative to the model clock's current second.
    AtOffset(i64),
    /// Both given: the TTL wins.
    Both {
        offset: i64,
        ttl: i32,
    },
}

#[derive(Debug, Clone)]
enum Cursor {
    None,
    /// The cursor of the most recent incomplete page (none if there was none).
    Continue,
    /// A cursor made from any key, existing or not.
    AfterKey(String),
}

#[derive(Debug, Clone)]
enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        expiry: Expiry,
        metadata: Metadata,
    },
    Delete {
        key: String,
    },
    Get {
        key: String,
        cache_ttl: Option<i32>,
    },
    List {
        prefix: Option<String>,
        limit: Option<i32>,
        cursor: Cursor,
    },
    /// Moves the clock forward by this many milliseconds.
    Advance(u64),
}

#[derive(Debug, Clone)]
enum Metadata {
    None,
    Json(String),
    /// Metadata whose JSON serialisation is `undefined` in JavaScript.
    Unserialisable,
}

/// Short keys over a small alphabet, so sequences collide, share prefixes and
/// cross UTF-8 ordering edges (`\u{ffff}` sorts before `😀`). The invalid
/// keys ("", ".", "..", 513 bytes) are rare but present.
fn key() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(vec!["a", "b", "/", "é", "\u{ffff}", "😀", "\u{0}", " ", ".", ":", "%", "*"]);
    let short = prop::collection::vec(alphabet, 1..=3).prop_map(|parts| parts.concat());
    let special = prop::sample::select(vec![
        "x.meta.json".to_owned(),
        "x".to_owned(),
        "CON".to_owned(),
        "...".to_owned(),
        "a/../b".to_owned(),
        "k".repeat(512),
        "é".repeat(256),
        "".to_owned(),
        "..".to_owned(),
        "k".repeat(513),
    ]);
    prop_oneof![20 => short, 1 => special]
}

fn prefix() -> impl Strategy<Value = Option<String>> {
    let alphabet = prop::sample::select(vec!["a", "b", "/", "é", "\u{ffff}", "😀", "."]);
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(String::new())),
        3 => prop::collection::vec(alphabet, 1..=2).prop_map(|parts| Some(parts.concat())),
        1 => Just(Some("k".repeat(513))),
    ]
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(any::<u8>(), 0..8),
        1 => prop::collection::vec(any::<u8>(), 0..4000),
    ]
}

fn expiry() -> impl Strategy<Value = Expiry> {
    // Around the rules' edges: TTL 0/59/60, expiration at now, now+59, now+60.
    let ttl = prop_oneof![Just(0), Just(59), Just(60), Just(61), -5..=400i32, 60..=100_000i32];
    let offset = prop_oneof![Just(0i64), Just(59), Just(60), Just(61), -100..=400i64];
    prop_oneof![
        4 => Just(Expiry::None),
        3 => ttl.clone().prop_map(Expiry::Ttl),
        3 => offset.clone().prop_map(Expiry::AtOffset),
        1 => (offset, ttl).prop_map(|(offset, ttl)| Expiry::Both { offset, ttl }),
    ]
}

fn metadata() -> impl Strategy<Value = Metadata> {
    // JSON text as JavaScript's JSON.stringify makes it. 1024 bytes is the
    // limit: a string of 1022 characters plus its quotes fits, 1023 does not.
    let json = prop_oneof![
        (0..1000i32).prop_map(|n| format!("{{\"n\":{n}}}")),
        Just("0".to_owned()),
        Just("false".to_owned()),
        Just("\"\"".to_owned()),
        Just("[1,\"é\",{\"a\":null}]".to_owned()),
        Just(format!("\"{}\"", "m".repeat(1022))),
        Just(format!("\"{}\"", "m".repeat(1023))),
    ];
    prop_oneof![4 => Just(Metadata::None), 4 => json.prop_map(Metadata::Json), 1 => Just(Metadata::Unserialisable)]
}

fn limit() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![3 => Just(None), 6 => (1..=4i32).prop_map(Some), 1 => prop::sample::select(vec![0, -1, 1000, 1001]).prop_map(Some)]
}

fn cursor() -> impl Strategy<Value = Cursor> {
    prop_oneof![3 => Just(Cursor::None), 4 => Just(Cursor::Continue), 1 => key().prop_map(Cursor::AfterKey)]
}

fn op() -> impl Strategy<Value = Op> {
    let advance = prop_oneof![0..2_000u64, 58_000..62_000u64, 0..400_000u64];
    prop_oneof![
        6 => (key(), value(), expiry(), metadata())
            .prop_map(|(key, value, expiry, metadata)| Op::Put { key, value, expiry, metadata }),
        2 => key().prop_map(|key| Op::Delete { key }),
        4 => (key(), prop_oneof![9 => Just(None), 1 => prop::sample::select(vec![29, 30, 3600]).prop_map(Some)])
            .prop_map(|(key, cache_ttl)| Op::Get { key, cache_ttl }),
        4 => (prefix(), limit(), cursor()).prop_map(|(prefix, limit, cursor)| Op::List { prefix, limit, cursor }),
        2 => advance.prop_map(Op::Advance),
    ]
}

fn sequence() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..=MAX_OPS_PER_SEQUENCE)
}

// ---------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------

/// What KV means, as plainly as possible: a map ordered by UTF-8 bytes
/// (Rust's `String` order) and a clock. It checks arguments with its own
/// copy of the contract's rules.
struct Model {
    entries: BTreeMap<String, Entry>,
}

const KEY_LIMIT: usize = 512;

impl Model {
    fn key_error(op: kv_core::Op, key: &str) -> Option<KvError> {
        match key {
            "" => Some(KvError::EmptyKey),
            "." | ".." => Some(KvError::DotKey(key.to_owned())),
            _ if key.len() > KEY_LIMIT => Some(KvError::KeyTooLong { op, len: key.len() }),
            _ => None,
        }
    }

    fn live(&self, key: &str, now: Now) -> Option<&Entry> {
        self.entries.get(key).filter(|entry| entry.expiration.is_none_or(|at| at > now.seconds()))
    }

    fn put(&mut self, key: &str, value: &[u8], options: &PutOptions, now: Now) -> Result<(), KvError> {
        if let Some(error) = Self::key_error(kv_core::Op::Put, key) {
            return Err(error);
        }
        let now_s = now.seconds();
        let expiration = match (options.expiration_ttl, options.expiration) {
            (Some(ttl), _) if ttl <= 0 => return Err(KvError::TtlNotPositive(ttl.into())),
            (Some(ttl), _) if ttl < 60 => return Err(KvError::TtlTooSmall(ttl.into())),
            (Some(ttl), _) => Some(now_s + i64::from(ttl)),
            (None, Some(at)) if i64::from(at) <= now_s => return Err(KvError::ExpirationInPast(at.into())),
            (None, Some(at)) if i64::from(at) < now_s + 60 => return Err(KvError::ExpirationTooSoon(at.into())),
            (None, Some(at)) => Some(at.into()),
            (None, None) => None,
        };
        if options.metadata_unserialisable {
            return Err(KvError::MetadataNotSerialisable);
        }
        if let Some(json) = &options.metadata_json {
            if json.len() > 1024 {
                return Err(KvError::MetadataTooLarge(json.len()));
            }
        }
        let entry = Entry {
            value: Bytes::copy_from_slice(value),
            expiration,
            metadata: options.metadata_json.as_deref().map(Arc::from),
        };
        self.entries.insert(key.to_owned(), entry);
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), KvError> {
        if let Some(error) = Self::key_error(kv_core::Op::Delete, key) {
            return Err(error);
        }
        self.entries.remove(key);
        Ok(())
    }

    fn get(&self, key: &str, cache_ttl: Option<i32>, now: Now) -> Result<Option<Entry>, KvError> {
        if let Some(error) = Self::key_error(kv_core::Op::Get, key) {
            return Err(error);
        }
        if let Some(ttl) = cache_ttl.filter(|&ttl| ttl < 30) {
            return Err(KvError::CacheTtlTooSmall { op: kv_core::Op::Get, ttl: ttl.into() });
        }
        Ok(self.live(key, now).cloned())
    }

    fn list(&self, options: &ListOptions, now: Now) -> Result<ListPage, KvError> {
        // Production checks the limit before the prefix's length.
        let limit = match options.limit {
            Some(n) if n > 1000 => return Err(KvError::ListLimitTooLarge(n.into())),
            Some(n) if n > 0 => n as usize,
            _ => 1000,
        };
        let prefix = options.prefix.clone().unwrap_or_default();
        if prefix.len() > KEY_LIMIT {
            return Err(KvError::KeyTooLong { op: kv_core::Op::Get, len: prefix.len() });
        }
        // The model's cursors only ever come from its own keys (or pages the
        // backend gave, which must be the same), so decoding is exact.
        let after = options.cursor.as_deref().map(decode_model_cursor).filter(|k| !k.is_empty());
        let mut admitted = self
            .entries
            .iter()
            .filter(|(name, _)| name.starts_with(&prefix))
            .filter(|(name, _)| after.as_deref().is_none_or(|after| name.as_str() > after))
            .filter(|(name, _)| self.live(name, now).is_some())
            .map(|(name, entry)| ListedKey {
                name: name.clone(),
                expiration: entry.expiration,
                metadata: entry.metadata.clone(),
            });
        let keys: Vec<ListedKey> = admitted.by_ref().take(limit).collect();
        let more = admitted.next().is_some();
        let cursor = if more { keys.last().map(|k| encode_cursor(&k.name)) } else { None };
        Ok(ListPage { keys, cursor })
    }
}

/// Standard base64 with padding, decoded without the product's lenient decoder.
fn decode_model_cursor(cursor: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in cursor.bytes().take_while(|&b| b != b'=') {
        let sextet = ALPHABET.iter().position(|&a| a == byte).expect("model cursors are standard base64") as u32;
        bits = (bits << 6) | sextet;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).expect("model cursors encode UTF-8 keys")
}

// ---------------------------------------------------------------------------
// Backends under test
// ---------------------------------------------------------------------------

/// The four operations, whatever the backend (Redis is asynchronous).
trait Subject {
    fn put(&self, ns: &str, key: &str, value: &[u8], options: PutOptions, now: Now) -> Result<(), KvError>;
    fn delete(&self, ns: &str, key: &str) -> Result<(), KvError>;
    fn get(&self, ns: &str, key: &str, cache_ttl: Option<i32>, now: Now) -> Result<Option<Entry>, KvError>;
    fn list(&self, ns: &str, options: ListOptions, now: Now) -> Result<ListPage, KvError>;
}

impl<S: Storage> Subject for Kv<S> {
    fn put(&self, ns: &str, key: &str, value: &[u8], options: PutOptions, now: Now) -> Result<(), KvError> {
        Kv::put(self, ns, key, Bytes::copy_from_slice(value), options, now)
    }
    fn delete(&self, ns: &str, key: &str) -> Result<(), KvError> {
        Kv::delete(self, ns, key)
    }
    fn get(&self, ns: &str, key: &str, cache_ttl: Option<i32>, now: Now) -> Result<Option<Entry>, KvError> {
        Kv::get(self, ns, key, cache_ttl, now)
    }
    fn list(&self, ns: &str, options: ListOptions, now: Now) -> Result<ListPage, KvError> {
        Kv::list(self, ns, options, now)
    }
}

/// One runtime for the Redis connection, as in the Node addon.
static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap());

struct RedisSubject(AsyncKv<RedisStorage>);

impl Subject for RedisSubject {
    fn put(&self, ns: &str, key: &str, value: &[u8], options: PutOptions, now: Now) -> Result<(), KvError> {
        RUNTIME.block_on(self.0.put(ns, key, Bytes::copy_from_slice(value), options, now))
    }
    fn delete(&self, ns: &str, key: &str) -> Result<(), KvError> {
        RUNTIME.block_on(self.0.delete(ns, key))
    }
    fn get(&self, ns: &str, key: &str, cache_ttl: Option<i32>, now: Now) -> Result<Option<Entry>, KvError> {
        RUNTIME.block_on(self.0.get(ns, key, cache_ttl, now))
    }
    fn list(&self, ns: &str, options: ListOptions, now: Now) -> Result<ListPage, KvError> {
        RUNTIME.block_on(self.0.list(ns, options, now))
    }
}

// ---------------------------------------------------------------------------
// Running sequences
// ---------------------------------------------------------------------------

/// Runs `ops` on a fresh namespace of `subject` and on a fresh model; the
/// first divergence fails the case (and proptest shrinks the sequence).
fn check_sequence(subject: &dyn Subject, ns: &str, start: Now, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model { entries: BTreeMap::new() };
    let mut now = start;
    let mut last_cursor: Option<String> = None;
    for (step, op) in ops.iter().enumerate() {
        let at = |what: &str| format!("step {step} ({op:?}) {what}");
        match op {
            Op::Put { key, value, expiry, metadata } => {
                let now_s = now.seconds();
                let absolute = |offset: i64| i32::try_from(now_s + offset).unwrap();
                let (expiration, expiration_ttl) = match *expiry {
                    Expiry::None => (None, None),
                    Expiry::Ttl(ttl) => (None, Some(ttl)),
                    Expiry::AtOffset(offset) => (Some(absolute(offset)), None),
                    Expiry::Both { offset, ttl } => (Some(absolute(offset)), Some(ttl)),
                };
                let options = PutOptions {
                    expiration,
                    expiration_ttl,
                    metadata_json: match metadata {
                        Metadata::Json(json) => Some(json.clone()),
                        _ => None,
                    },
                    metadata_unserialisable: matches!(metadata, Metadata::Unserialisable),
                };
                let expected = model.put(key, value, &options, now);
                let actual = subject.put(ns, key, value, options, now);
                prop_assert_eq!(actual, expected, "{}", at("put"));
            }
            Op::Delete { key } => {
                prop_assert_eq!(subject.delete(ns, key), model.delete(key), "{}", at("delete"));
            }
            Op::Get { key, cache_ttl } => {
                let expected = model.get(key, *cache_ttl, now);
                prop_assert_eq!(subject.get(ns, key, *cache_ttl, now), expected, "{}", at("get"));
            }
            Op::List { prefix, limit, cursor } => {
                let cursor = match cursor {
                    Cursor::None => None,
                    Cursor::Continue => last_cursor.clone(),
                    Cursor::AfterKey(key) => Some(encode_cursor(key)),
                };
                let options = ListOptions { prefix: prefix.clone(), limit: *limit, cursor };
                let expected = model.list(&options, now);
                let actual = subject.list(ns, options, now);
                prop_assert_eq!(&actual, &expected, "{}", at("list"));
                if let Ok(page) = expected {
                    last_cursor = page.cursor;
                }
            }
            Op::Advance(ms) => now = Now(now.0 + *ms as f64),
        }
    }
    // Finally every live key, page by page, as the model has them.
    let mut cursor = None;
    let mut listed = Vec::new();
    loop {
        let options = ListOptions { prefix: None, limit: Some(7), cursor };
        let page = subject.list(ns, options, now).map_err(|e| TestCaseError::fail(format!("final list: {e}")))?;
        listed.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected = model.list(&ListOptions::default(), now).unwrap().keys;
    prop_assert_eq!(listed, expected, "final listing");
    Ok(())
}

fn cases(default: u32) -> u32 {
    match std::env::var("KV_MODEL_CASES") {
        Ok(n) => n.parse().expect("KV_MODEL_CASES must be a whole number"),
        Err(_) => default,
    }
}

/// Runs `cases` sequences against the backend `open` gives, one namespace
/// each, reopening it every `reopen_every` sequences (0: never). `start`
/// gives each sequence's starting clock.
fn run_model(
    label: &str,
    open: impl Fn() -> Box<dyn Subject>,
    reopen_every: usize,
    cases: u32,
    start: impl Fn() -> Now,
) {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 4096, ..Config::default() };
    let seed = std::env::var("KV_MODEL_SEED").ok().map(|s| s.parse::<u64>().expect("KV_MODEL_SEED is a number"));
    let mut runner = match seed {
        Some(seed) => {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&seed.to_le_bytes());
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
        }
        None => TestRunner::new(config),
    };
    static NAMESPACE: AtomicUsize = AtomicUsize::new(0);
    let ops_run = AtomicUsize::new(0);
    let sequences_run = AtomicUsize::new(0);
    let subject = RefCell::new(open());
    let result = runner.run(&sequence(), |ops| {
        ops_run.fetch_add(ops.len(), Ordering::Relaxed);
        let run = sequences_run.fetch_add(1, Ordering::Relaxed);
        if reopen_every > 0 && run > 0 && run % reopen_every == 0 {
            // Drop the old instance first: it may hold the directory.
            *subject.borrow_mut() = Box::new(Closed);
            *subject.borrow_mut() = open();
        }
        let ns = format!("model-{}", NAMESPACE.fetch_add(1, Ordering::Relaxed));
        check_sequence(&**subject.borrow(), &ns, start(), &ops)
    });
    if let Err(failure) = result {
        panic!("{label}: the backend diverged from the model: {failure}");
    }
    // Picked up by scripts/reliability.mjs for the report.
    println!("MODEL {label}: {cases} sequences, {} operations, 0 divergences", ops_run.load(Ordering::Relaxed));
}

/// Stands in for a backend while it is being reopened.
struct Closed;

impl Subject for Closed {
    fn put(&self, _: &str, _: &str, _: &[u8], _: PutOptions, _: Now) -> Result<(), KvError> {
        unreachable!("closed")
    }
    fn delete(&self, _: &str, _: &str) -> Result<(), KvError> {
        unreachable!("closed")
    }
    fn get(&self, _: &str, _: &str, _: Option<i32>, _: Now) -> Result<Option<Entry>, KvError> {
        unreachable!("closed")
    }
    fn list(&self, _: &str, _: ListOptions, _: Now) -> Result<ListPage, KvError> {
        unreachable!("closed")
    }
}

/// A fixed clock is fine where expiry is only the caller's clock.
const FIXED_START: Now = Now(1_700_000_000_123.0);

#[test]
fn memory_matches_the_model() {
    let open = || Box::new(Kv::new(MemoryStorage::new())) as Box<dyn Subject>;
    run_model("memory", open, 0, cases(DEFAULT_CASES_MEMORY), || FIXED_START);
}

#[test]
fn directory_matches_the_model() {
    let dir = TempDir::new("dir");
    let open = || Box::new(Kv::new(DirStorage::open(dir.0.join("kv")).unwrap())) as Box<dyn Subject>;
    // Reopened now and then: a DirStorage keeps one open file per namespace
    // it has used (see docs/reliability.md, "Defects"), and every sequence
    // uses a new namespace.
    run_model("directory", open, DIRECTORY_REOPEN_EVERY, cases(DEFAULT_CASES_DIRECTORY), || FIXED_START);
}

#[test]
fn sled_matches_the_model() {
    let dir = TempDir::new("sled");
    // A fresh database now and then: every sequence creates a sled tree, and
    // sled's disk use grows with the square of the number of trees (see
    // docs/reliability.md, "Defects"); 100,000 in one database fill a disk.
    let databases = AtomicUsize::new(0);
    let open = || {
        let n = databases.fetch_add(1, Ordering::Relaxed);
        if n > 0 {
            let _ = std::fs::remove_dir_all(dir.0.join(format!("db-{}", n - 1)));
        }
        Box::new(Kv::new(SledStorage::open(dir.0.join(format!("db-{n}"))).unwrap())) as Box<dyn Subject>
    };
    run_model("sled", open, SLED_REOPEN_EVERY, cases(DEFAULT_CASES_SLED), || FIXED_START);
}

#[test]
fn redis_matches_the_model() {
    let server = RedisServer::start();
    let open = || {
        // An empty database now and then: the first list of a namespace
        // scans the whole keyspace for Miniflare 2 keys, and every sequence
        // uses a new namespace, so the cost would grow with the square of
        // the sequences run.
        RUNTIME.block_on(async {
            let client = ::redis::Client::open(server.url()).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            ::redis::cmd("FLUSHDB").query_async::<()>(&mut connection).await.unwrap();
        });
        let storage = RUNTIME.block_on(RedisStorage::connect(&server.url())).unwrap();
        Box::new(RedisSubject(AsyncKv::new(storage))) as Box<dyn Subject>
    };
    // Redis also expires keys by the real clock, so each sequence starts at
    // the real time and the model clock only moves forward from there.
    run_model("redis", open, REDIS_FLUSH_EVERY, cases(DEFAULT_CASES_REDIS), Now::from_system_clock);
}

// ---------------------------------------------------------------------------
// Test fixtures
// ---------------------------------------------------------------------------

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("kv-model-test-{}-{label}", std::process::id()));
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

/// A private redis-server on 127.0.0.1 at a free port (never 6379), without
/// persistence, stopped when dropped.
struct RedisServer {
    port: u16,
    process: Child,
    _dir: TempDir,
}

impl RedisServer {
    fn start() -> RedisServer {
        let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect("redis-server is not installed: `apt-get install redis-server` (scripts/test.mjs does it)");
        let port = loop {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if port != 6379 {
                break port;
            }
        };
        let dir = TempDir::new("redis");
        let process = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning", "--dir"])
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = RedisServer { port, process, _dir: dir };
        for _ in 0..400 {
            if server.ping() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not answer on 127.0.0.1:{port}");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 5];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
