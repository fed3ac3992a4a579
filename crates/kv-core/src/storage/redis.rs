//! Storage in Redis (`kvPersist: "redis://…"`), readable alongside data that
//! Miniflare 2 wrote.
//!
//! # Layout
//!
//! | Redis key                 | type       | holds |
//! |---------------------------|------------|-------|
//! | `<namespace>:value:<key>` | string     | the raw value bytes (as Miniflare 2) |
//! | `<namespace>:meta:<key>`  | string     | the record `{"key":<key>,"expiration":<unix s>,"metadata":<JSON>}`; `expiration` and `metadata` are left out when absent, `metadata` is the caller's JSON text verbatim. Written with every put, so a get is one `MGET`. |
//! | `<namespace>:index`       | sorted set | every key name of the namespace, all with score 0, so `ZRANGEBYLEX` lists them in byte order; plus the member `""` (never a valid key) marking that the index is complete |
//!
//! `<namespace>` is the namespace id with `%` and `:` percent-escaped (`a:b` → `a%3Ab`), so
//! that no two namespaces' key names can coincide; names without those characters are
//! written as they are, as Miniflare 2 wrote them.
//!
//! A key with an expiration gets the same Redis expiry (`EXPIREAT`) on its
//! value and meta keys; the index member stays until a `list` finds it dead.
//! Every write is one `MULTI`/`EXEC`. Visibility always follows the caller's
//! clock ([`Now`]): an entry whose expiration has passed by that clock is
//! missing, and is deleted (only if unchanged) by the read that found it.
//! The Redis expiry only reclaims storage; when the caller's clock is behind
//! the real one (fake timers set in the past) it is pushed a day ahead, so
//! Redis never deletes an entry the caller can still see.
//!
//! # Reading Miniflare 2 data
//!
//! Miniflare 2 wrote the value key, a meta key only for truthy metadata
//! holding just `JSON.stringify(metadata)`, expiry only as a Redis TTL, and no
//! index. So a meta key is taken as our record only if it is a JSON object with
//! no fields but `key`, `expiration` and `metadata`, whose `key` is the key's
//! own name; anything else is Miniflare 2 metadata (a Miniflare 2 metadata
//! object shaped exactly like our record for the same key would be misread).
//! Without a record, the expiration comes from `PTTL`, rounded to the second
//! (Miniflare 2 expirations are whole seconds). A namespace without the index
//! marker gets its index built once, by `SCAN`ning `<namespace>:value:*` (glob
//! characters in the namespace escaped). Keys that Miniflare 2 adds *after*
//! that are not listed (they are still readable with get).
//!
//! # Connections
//!
//! `rediss://` connects with TLS (rustls, checking the server's certificate
//! against the system's root certificates); a URL ending in `#insecure` skips
//! that check, for test servers with self-signed certificates.
//!
//! One `ConnectionManager` (one multiplexed TCP connection, reconnecting by
//! itself) per URL, shared by every `RedisStorage` in the process and closed
//! when the last is dropped. It runs on the Tokio runtime that is current when
//! the first `connect` for a URL happens; that runtime must outlive it.
//! Every round trip is bounded: Redis down or silent means a
//! `KvError::Storage` naming the URL within [`CALL_DEADLINE`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RedisError, RedisResult};
use bytes::Bytes;
use serde_json::value::RawValue;

use super::AsyncStorage;
use crate::entry::{is_expired, Entry, ListedKey, Now, UnixSeconds};
use crate::error::{KvError, Result};
use crate::list::ListRequest;

// Namespace registry (hash `miniflare-kv:namespaces`), namespace deletion, bulk writes.
mod admin;

/// Upper bound for one round trip, including one reconnection attempt.
pub const CALL_DEADLINE: Duration = Duration::from_millis(4500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Retries inside one reconnection attempt; kept low so that a call while
/// Redis is down fails quickly, and the next call simply tries again.
const RECONNECT_RETRIES: usize = 1;
const SCAN_COUNT: usize = 1000;
/// How far ahead the Redis expiry is put when the caller's clock is behind.
const EXPIRY_FLOOR_SECONDS: i64 = 60;
const EXPIRY_WHEN_CLOCK_BEHIND_SECONDS: i64 = 24 * 60 * 60;

/// The index member that marks an index as complete.
const INDEX_BUILT_MARKER: &str = "";

/// Deletes index members whose key is gone and entries that expired by the
/// caller's clock, each only if nothing rewrote it since we looked.
/// KEYS: index, then per entry its value key and meta key.
/// ARGV: per entry its key name and the meta record we saw ("" = none: then
/// only drop the index member, and only if the value key no longer exists).
const RECLAIM_SCRIPT: &str = r#"
for i = 1, #ARGV, 2 do
  local n = (i + 1) / 2
  local value_key, meta_key = KEYS[2 * n], KEYS[2 * n + 1]
  local member, seen_record = ARGV[i], ARGV[i + 1]
  if seen_record == '' then
    if redis.call('EXISTS', value_key) == 0 then
      redis.call('ZREM', KEYS[1], member)
    end
  elseif redis.call('GET', meta_key) == seen_record then
    redis.call('DEL', value_key, meta_key)
    redis.call('ZREM', KEYS[1], member)
  end
end
return 0
"#;

struct SharedConnection {
    manager: ConnectionManager,
    /// Lets one index build run at a time, so that concurrent first lists
    /// of a Miniflare 2 namespace do not all scan the keyspace.
    index_build: tokio::sync::Mutex<()>,
    /// The URL with any password hidden, for messages.
    display_url: String,
}

/// URL as given → its connection, while any `RedisStorage` uses it.
static CONNECTIONS: LazyLock<Mutex<HashMap<String, Weak<SharedConnection>>>> = LazyLock::new(Default::default);

fn connections() -> MutexGuard<'static, HashMap<String, Weak<SharedConnection>>> {
    CONNECTIONS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct RedisStorage {
    shared: Arc<SharedConnection>,
}

impl RedisStorage {
    /// Connects to `url` (`redis[s]://[user][:password@]host[:port][/db][#insecure]`), or
    /// joins this process's existing connection to it. Must be called inside
    /// a Tokio runtime (see the module docs).
    pub async fn connect(url: &str) -> Result<RedisStorage> {
        let display_url = redact_password(url);
        if let Some(shared) = connections().get(url).and_then(Weak::upgrade) {
            return Ok(RedisStorage { shared });
        }
        if url.starts_with("rediss://") {
            // rustls needs a process-wide crypto provider; another part of
            // the process may have installed one already, which is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let client = ::redis::Client::open(url).map_err(|e| {
            KvError::Storage(format!(
                "Invalid Redis URL {display_url}: {e}. Expected redis://[user][:password@]host[:port][/db] or rediss://…"
            ))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(Duration::from_millis(500));
        let manager =
            match tokio::time::timeout(CALL_DEADLINE, ConnectionManager::new_with_config(client, config)).await {
                Ok(Ok(manager)) => manager,
                Ok(Err(e)) => return Err(unreachable_error(&display_url, &describe(url, &e))),
                Err(_) => return Err(unreachable_error(&display_url, &no_answer())),
            };

        let mut registry = connections();
        // Another caller may have connected meanwhile: share theirs.
        if let Some(shared) = registry.get(url).and_then(Weak::upgrade) {
            return Ok(RedisStorage { shared });
        }
        registry.retain(|_, connection| connection.strong_count() > 0);
        let shared = Arc::new(SharedConnection { manager, index_build: Default::default(), display_url });
        registry.insert(url.to_owned(), Arc::downgrade(&shared));
        Ok(RedisStorage { shared })
    }

    /// Runs one round trip, bounded by [`CALL_DEADLINE`]. A connection error
    /// (Redis restarted, or the connection dropped) is retried once: the
    /// manager reconnects on the first failure. Every operation here is
    /// idempotent, so a retry cannot do harm.
    async fn round_trip<T, F, Fut>(&self, operation: F) -> Result<T>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let attempts = async {
            match operation(self.shared.manager.clone()).await {
                Err(e) if is_connection_error(&e) => operation(self.shared.manager.clone()).await,
                result => result,
            }
        };
        match tokio::time::timeout(CALL_DEADLINE, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if is_connection_error(&e) => {
                Err(unreachable_error(&self.shared.display_url, &describe(&self.shared.display_url, &e)))
            }
            Ok(Err(e)) => Err(KvError::Storage(format!("Redis at {} failed: {e}", self.shared.display_url))),
            Err(_) => Err(unreachable_error(&self.shared.display_url, &no_answer())),
        }
    }

    /// The meta records' `PTTL`-derived expirations for Miniflare 2 entries:
    /// `None` = the value key is gone, `Some(None)` = no expiry.
    async fn miniflare2_expirations(&self, value_keys: &[Vec<u8>]) -> Result<Vec<Option<Option<UnixSeconds>>>> {
        if value_keys.is_empty() {
            return Ok(Vec::new());
        }
        let replies: Vec<i64> = self
            .round_trip(|mut connection| async move {
                let mut pipe = ::redis::pipe();
                for key in value_keys {
                    pipe.cmd("PTTL").arg(key);
                }
                pipe.query_async(&mut connection).await
            })
            .await?;
        let now_ms = Now::from_system_clock().0 as i64;
        Ok(replies
            .into_iter()
            .map(|pttl| match pttl {
                -2 => None,
                ms if ms < 0 => Some(None),
                // Round: the TTL was set for a whole second, and has been
                // running down since.
                ms => Some(Some(((now_ms + ms) as f64 / 1000.0).round() as UnixSeconds)),
            })
            .collect())
    }

    /// Adds every existing key of `namespace` to its index, then marks it
    /// complete. Runs once per namespace, for data written by Miniflare 2 (a
    /// duplicate run, say from another process, is harmless).
    async fn build_index(&self, namespace: &str) -> Result<()> {
        let index = index_key(namespace);
        let _one_at_a_time = self.shared.index_build.lock().await;
        let built: Option<String> = self
            .round_trip(|mut connection| {
                let index = index.as_slice();
                async move { ::redis::cmd("ZSCORE").arg(index).arg(INDEX_BUILT_MARKER).query_async(&mut connection).await }
            })
            .await?;
        if built.is_some() {
            return Ok(()); // built while we waited
        }
        let namespace_part = namespace_part(namespace);
        let pattern = format!("{}:value:*", escape_glob(&namespace_part));
        let name_start = namespace_part.len() + ":value:".len();
        let mut cursor: u64 = 0;
        loop {
            let (next, found): (u64, Vec<Vec<u8>>) = self
                .round_trip(|mut connection| {
                    let pattern = pattern.as_str();
                    async move {
                        ::redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(SCAN_COUNT)
                            .query_async(&mut connection)
                            .await
                    }
                })
                .await?;
            let names: Vec<&[u8]> = found
                .iter()
                .filter_map(|key| key.get(name_start..))
                .filter(|name| !name.is_empty() && std::str::from_utf8(name).is_ok())
                .collect();
            if !names.is_empty() {
                self.round_trip(|mut connection| {
                    let index = index.as_slice();
                    let names = names.as_slice();
                    async move {
                        let mut zadd = ::redis::cmd("ZADD");
                        zadd.arg(index);
                        for name in names {
                            zadd.arg(0).arg(*name);
                        }
                        zadd.query_async::<()>(&mut connection).await
                    }
                })
                .await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.round_trip(|mut connection| {
            let index = index.as_slice();
            async move {
                ::redis::cmd("ZADD").arg(index).arg(0).arg(INDEX_BUILT_MARKER).query_async::<()>(&mut connection).await
            }
        })
        .await
    }

    /// See [`RECLAIM_SCRIPT`]. `seen` pairs a key with the meta record read
    /// for it (`None`: its value key was found missing).
    async fn reclaim(&self, namespace: &str, seen: &[(String, Option<Vec<u8>>)]) -> Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let index = index_key(namespace);
        self.round_trip(|mut connection| {
            let index = index.as_slice();
            async move {
                let mut eval = ::redis::cmd("EVAL");
                eval.arg(RECLAIM_SCRIPT).arg(1 + 2 * seen.len()).arg(index);
                for (key, _) in seen {
                    eval.arg(value_key(namespace, key)).arg(meta_key(namespace, key));
                }
                for (key, record) in seen {
                    eval.arg(key.as_str()).arg(record.as_deref().unwrap_or(b""));
                }
                eval.query_async::<()>(&mut connection).await
            }
        })
        .await
    }
}

impl AsyncStorage for RedisStorage {
    async fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>> {
        let value_key = value_key(namespace, key);
        let meta_key = meta_key(namespace, key);
        let (value, record): (Option<Vec<u8>>, Option<Vec<u8>>) = self
            .round_trip(|mut connection| {
                let (value_key, meta_key) = (&value_key, &meta_key);
                async move { ::redis::cmd("MGET").arg(value_key).arg(meta_key).query_async(&mut connection).await }
            })
            .await?;
        let Some(value) = value else { return Ok(None) };
        let entry = match StoredMeta::parse(key, record.as_deref()) {
            StoredMeta::Record { expiration, metadata } => {
                let entry = Entry { value: Bytes::from(value), expiration, metadata };
                if entry.is_expired(now) {
                    self.reclaim(namespace, &[(key.to_owned(), record)]).await?;
                    return Ok(None);
                }
                entry
            }
            StoredMeta::Miniflare2 { metadata } => {
                let Some(expiration) = self.miniflare2_expirations(&[value_key]).await?.pop().flatten() else {
                    return Ok(None); // expired between the two round trips
                };
                Entry { value: Bytes::from(value), expiration, metadata }
            }
        };
        Ok((!entry.is_expired(now)).then_some(entry))
    }

    async fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()> {
        let value_key = value_key(namespace, key);
        let meta_key = meta_key(namespace, key);
        let index = index_key(namespace);
        let record = encode_record(key, &entry);
        let redis_expiry = entry.expiration.map(redis_expiry);
        self.round_trip(|mut connection| {
            let (value_key, meta_key, index, record, entry) = (&value_key, &meta_key, &index, &record, &entry);
            async move {
                let mut transaction = ::redis::pipe();
                transaction.atomic();
                // A plain SET also clears an old expiry.
                transaction.cmd("SET").arg(value_key).arg(&entry.value[..]).ignore();
                transaction.cmd("SET").arg(meta_key).arg(record).ignore();
                if let Some(at) = redis_expiry {
                    transaction.cmd("EXPIREAT").arg(value_key).arg(at).ignore();
                    transaction.cmd("EXPIREAT").arg(meta_key).arg(at).ignore();
                }
                transaction.cmd("ZADD").arg(index).arg(0).arg(key).ignore();
                transaction.query_async::<()>(&mut connection).await
            }
        })
        .await
    }

    async fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        let value_key = value_key(namespace, key);
        let meta_key = meta_key(namespace, key);
        let index = index_key(namespace);
        self.round_trip(|mut connection| {
            let (value_key, meta_key, index) = (&value_key, &meta_key, &index);
            async move {
                let mut transaction = ::redis::pipe();
                transaction.atomic();
                transaction.cmd("DEL").arg(value_key).arg(meta_key).ignore();
                transaction.cmd("ZREM").arg(index).arg(key).ignore();
                transaction.query_async::<()>(&mut connection).await
            }
        })
        .await
    }

    async fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<ListedKey>> {
        let index = index_key(namespace);
        let wanted = request.fetch_count();
        let (mut lower, upper) = lex_bounds(request);
        let mut rows = Vec::with_capacity(wanted.min(1024));
        let mut to_reclaim: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut checked_index = false;
        while rows.len() < wanted {
            let batch = wanted - rows.len();
            let (built, members): (Option<String>, Vec<Vec<u8>>) = self
                .round_trip(|mut connection| {
                    let (index, lower, upper) = (&index, &lower, &upper);
                    async move {
                        let mut pipe = ::redis::pipe();
                        pipe.cmd("ZSCORE").arg(index).arg(INDEX_BUILT_MARKER);
                        pipe.cmd("ZRANGEBYLEX").arg(index).arg(lower).arg(upper).arg("LIMIT").arg(0).arg(batch);
                        pipe.query_async(&mut connection).await
                    }
                })
                .await?;
            if !checked_index && built.is_none() {
                self.build_index(namespace).await?;
                checked_index = true;
                continue;
            }
            checked_index = true;
            let exhausted = members.len() < batch;
            if let Some(last) = members.last() {
                lower = [b"(".as_slice(), last].concat();
            }
            let names: Vec<String> = members
                .into_iter()
                .filter_map(|member| String::from_utf8(member).ok())
                .filter(|name| !name.is_empty() && request.admits(name))
                .collect();
            if !names.is_empty() {
                let records = self.meta_records(namespace, &names).await?;
                let mut miniflare2 = Vec::new();
                let mut page: Vec<Option<ListedKey>> = Vec::with_capacity(names.len());
                for (name, record) in names.into_iter().zip(records) {
                    match StoredMeta::parse(&name, record.as_deref()) {
                        StoredMeta::Record { expiration, metadata } => {
                            if is_expired(expiration, now) {
                                to_reclaim.push((name, record));
                                page.push(None);
                            } else {
                                page.push(Some(ListedKey { name, expiration, metadata }));
                            }
                        }
                        StoredMeta::Miniflare2 { metadata } => {
                            miniflare2.push(page.len());
                            page.push(Some(ListedKey { name, expiration: None, metadata }));
                        }
                    }
                }
                // Miniflare 2 entries (and index members whose key is gone):
                // existence and expiry from PTTL.
                let value_keys: Vec<Vec<u8>> = miniflare2
                    .iter()
                    .map(|&at| value_key(namespace, &page[at].as_ref().expect("just pushed").name))
                    .collect();
                let expirations = self.miniflare2_expirations(&value_keys).await?;
                for (at, expiration) in miniflare2.into_iter().zip(expirations) {
                    match expiration {
                        None => {
                            let name = page[at].take().expect("just pushed").name;
                            to_reclaim.push((name, None));
                        }
                        Some(expiration) if is_expired(expiration, now) => page[at] = None,
                        Some(expiration) => page[at].as_mut().expect("just pushed").expiration = expiration,
                    }
                }
                rows.extend(page.into_iter().flatten());
            }
            if exhausted {
                break;
            }
        }
        rows.truncate(wanted);
        self.reclaim(namespace, &to_reclaim).await?;
        Ok(rows)
    }

    fn location(&self) -> String {
        self.shared.display_url.clone()
    }
}

impl RedisStorage {
    /// The meta keys of `names`, in one `MGET`.
    async fn meta_records(&self, namespace: &str, names: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.round_trip(|mut connection| async move {
            let mut mget = ::redis::cmd("MGET");
            for name in names {
                mget.arg(meta_key(namespace, name));
            }
            mget.query_async(&mut connection).await
        })
        .await
    }
}

/// What a meta key holds.
#[derive(Debug, PartialEq)]
enum StoredMeta {
    /// Our record.
    Record { expiration: Option<UnixSeconds>, metadata: Option<Arc<str>> },
    /// Miniflare 2: metadata JSON or nothing; the expiry is the key's TTL.
    Miniflare2 { metadata: Option<Arc<str>> },
}

impl StoredMeta {
    fn parse(key: &str, meta: Option<&[u8]>) -> StoredMeta {
        let Some(meta) = meta else { return StoredMeta::Miniflare2 { metadata: None } };
        let text = String::from_utf8_lossy(meta);
        parse_record(key, &text).unwrap_or_else(|| StoredMeta::Miniflare2 { metadata: Some(Arc::from(text.as_ref())) })
    }
}

fn parse_record(key: &str, text: &str) -> Option<StoredMeta> {
    let fields: HashMap<String, &RawValue> = serde_json::from_str(text).ok()?;
    if fields.keys().any(|field| !matches!(field.as_str(), "key" | "expiration" | "metadata")) {
        return None;
    }
    let stored_key: String = serde_json::from_str(fields.get("key")?.get()).ok()?;
    if stored_key != key {
        return None;
    }
    let expiration = match fields.get("expiration") {
        Some(raw) => serde_json::from_str::<Option<UnixSeconds>>(raw.get()).ok()?,
        None => None,
    };
    // `null` is kept: metadata that serialised to null is listed as `metadata: null`.
    let metadata = fields.get("metadata").map(|raw| Arc::from(raw.get()));
    Some(StoredMeta::Record { expiration, metadata })
}

fn encode_record(key: &str, entry: &Entry) -> String {
    let mut record = String::with_capacity(key.len() + entry.metadata.as_deref().map_or(0, str::len) + 48);
    record.push_str(r#"{"key":"#);
    record.push_str(&serde_json::to_string(key).expect("a string always serialises"));
    if let Some(expiration) = entry.expiration {
        record.push_str(&format!(r#","expiration":{expiration}"#));
    }
    if let Some(metadata) = &entry.metadata {
        record.push_str(r#","metadata":"#);
        record.push_str(metadata);
    }
    record.push('}');
    record
}

/// When Redis should drop an entry expiring at `expiration` (caller's clock).
fn redis_expiry(expiration: UnixSeconds) -> UnixSeconds {
    let real_now = Now::from_system_clock().seconds();
    if expiration >= real_now + EXPIRY_FLOOR_SECONDS {
        expiration
    } else {
        // Validation guarantees 60 s ahead by the caller's clock, so that
        // clock is behind: keep the entry for a day; reads hide it on time.
        real_now + EXPIRY_WHEN_CLOCK_BEHIND_SECONDS
    }
}

/// The namespace as it starts Redis key names. Miniflare 2 used the raw name,
/// which lets namespace "n" key "x:value:y" and namespace "n:value:x" key "y"
/// share one Redis key. Escaping `:` (and `%`) in the namespace makes the
/// first `:` the end of the namespace, so names never alias; plain names
/// (every Miniflare 2 binding name) are unchanged.
fn namespace_part(namespace: &str) -> Cow<'_, str> {
    if !namespace.contains([':', '%']) {
        return Cow::Borrowed(namespace);
    }
    Cow::Owned(namespace.replace('%', "%25").replace(':', "%3A"))
}

fn value_key(namespace: &str, key: &str) -> Vec<u8> {
    format!("{}:value:{key}", namespace_part(namespace)).into_bytes()
}

fn meta_key(namespace: &str, key: &str) -> Vec<u8> {
    format!("{}:meta:{key}", namespace_part(namespace)).into_bytes()
}

fn index_key(namespace: &str) -> Vec<u8> {
    format!("{}:index", namespace_part(namespace)).into_bytes()
}

/// `ZRANGEBYLEX` bounds for the request: from the prefix (inclusive) or
/// strictly after the cursor key, to the end of the prefix. UTF-8 never
/// contains the byte 0xFF, so `prefix + 0xFF` is above every key with it.
fn lex_bounds(request: &ListRequest) -> (Vec<u8>, Vec<u8>) {
    let prefix = request.prefix.as_bytes();
    let lower = match &request.start_after {
        Some(after) if after.as_str() >= request.prefix.as_str() => [b"(", after.as_bytes()].concat(),
        _ if prefix.is_empty() => b"-".to_vec(),
        _ => [b"[", prefix].concat(),
    };
    let upper = if prefix.is_empty() { b"+".to_vec() } else { [b"(", prefix, b"\xff"].concat() };
    (lower, upper)
}

/// Makes `text` match itself literally in a `SCAN MATCH` pattern.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout()
}

/// The error, with a hint when a TLS certificate was refused.
fn describe(url: &str, e: &RedisError) -> String {
    let text = e.to_string();
    if url.starts_with("rediss://") && text.contains("certificate") && !url.contains("#insecure") {
        format!(
            "{text} (the server's TLS certificate is not trusted by this system; for a self-signed \
             certificate on a test server, append #insecure to the URL)"
        )
    } else {
        text
    }
}

fn no_answer() -> String {
    format!("no answer within {} ms", CALL_DEADLINE.as_millis())
}

fn unreachable_error(display_url: &str, reason: &str) -> KvError {
    KvError::Storage(format!(
        "Could not reach Redis at {display_url}: {reason}. Check that the server is running and the URL is right."
    ))
}

/// `redis://user:secret@host` → `redis://user:***@host`.
fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else { return url.to_owned() };
    let authority_end = url[scheme_end..].find('/').map_or(url.len(), |at| scheme_end + at);
    let Some(at_sign) = url[scheme_end..authority_end].rfind('@').map(|at| scheme_end + at) else {
        return url.to_owned();
    };
    match url[scheme_end..at_sign].find(':').map(|at| scheme_end + at) {
        Some(colon) => format!("{}:***{}", &url[..colon], &url[at_sign..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keep_metadata_text() {
        let entry = Entry {
            value: Bytes::new(),
            expiration: Some(1_700_000_060),
            metadata: Some(r#"{"b":1,"a":[0.5,false]}"#.into()),
        };
        let record = encode_record("k\"é", &entry);
        assert_eq!(record, r#"{"key":"k\"é","expiration":1700000060,"metadata":{"b":1,"a":[0.5,false]}}"#);
        assert_eq!(
            StoredMeta::parse("k\"é", Some(record.as_bytes())),
            StoredMeta::Record { expiration: entry.expiration, metadata: entry.metadata }
        );
        let plain = encode_record("k", &Entry::new(Bytes::new()));
        assert_eq!(plain, r#"{"key":"k"}"#);
        assert_eq!(
            StoredMeta::parse("k", Some(plain.as_bytes())),
            StoredMeta::Record { expiration: None, metadata: None }
        );
        for falsy in ["0", "false", r#""""#, "null"] {
            let entry = Entry { value: Bytes::new(), expiration: None, metadata: Some(falsy.into()) };
            let record = encode_record("k", &entry);
            assert_eq!(
                StoredMeta::parse("k", Some(record.as_bytes())),
                StoredMeta::Record { expiration: None, metadata: Some(falsy.into()) }
            );
        }
    }

    #[test]
    fn miniflare2_metadata_is_not_mistaken_for_a_record() {
        let mf2 = |text: &str| StoredMeta::Miniflare2 { metadata: Some(text.into()) };
        for text in [r#"{"a":1}"#, "1", r#""text""#, "[1,2]", r#"{"key":"other"}"#, r#"{"key":"k","x":1}"#, "not json"]
        {
            assert_eq!(StoredMeta::parse("k", Some(text.as_bytes())), mf2(text), "{text}");
        }
        assert_eq!(StoredMeta::parse("k", None), StoredMeta::Miniflare2 { metadata: None });
    }

    #[test]
    fn lex_bounds_cover_the_prefix_after_the_cursor() {
        let request = |prefix: &str, after: Option<&str>| ListRequest {
            prefix: prefix.into(),
            start_after: after.map(Into::into),
            limit: 10,
        };
        assert_eq!(lex_bounds(&request("", None)), (b"-".to_vec(), b"+".to_vec()));
        assert_eq!(lex_bounds(&request("p", None)), (b"[p".to_vec(), b"(p\xff".to_vec()));
        assert_eq!(lex_bounds(&request("p", Some("p1"))), (b"(p1".to_vec(), b"(p\xff".to_vec()));
        assert_eq!(lex_bounds(&request("p", Some("a"))), (b"[p".to_vec(), b"(p\xff".to_vec()));
        assert_eq!(lex_bounds(&request("", Some("a"))), (b"(a".to_vec(), b"+".to_vec()));
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob(r"a*b?[c]\d"), r"a\*b\?\[c\]\\d");
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact_password("redis://:secret@host:1/0"), "redis://:***@host:1/0");
        assert_eq!(redact_password("redis://user:secret@host"), "redis://user:***@host");
        assert_eq!(redact_password("redis://user@host"), "redis://user@host");
        assert_eq!(redact_password("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
