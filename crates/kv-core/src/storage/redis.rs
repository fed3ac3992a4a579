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
//! # Redis Cluster
//!
//! A URL naming a cluster node (found by `INFO cluster` on connect), or
//! several seed nodes (`redis://h1:p1,h2:p2`), stores the data across the
//! cluster with the same layout, every key name's namespace part wrapped in a
//! hash tag: `{<namespace>}:value:<key>` (see [`cluster`]). Miniflare 2 never
//! wrote that layout, so a cluster namespace's index is complete from the
//! start.
//!
//! # Connections
//!
//! `rediss://` connects with TLS (rustls, checking the server's certificate
//! against the system's root certificates); a URL ending in `#insecure` skips
//! that check, for test servers with self-signed certificates.
//!
//! One connection (a `ConnectionManager`, one multiplexed TCP connection
//! reconnecting by itself, or a cluster client) per URL, shared by every
//! `RedisStorage` in the process and closed when the last is dropped. It runs
//! on the Tokio runtime that is current when the first `connect` for a URL
//! happens; that runtime must outlive it. A caller with an event loop of its
//! own may add a [`wire::WireLink`] to a single plain-TCP server
//! ([`RedisStorage::attach_wire`]): then every call goes through it, with no
//! Tokio involved. Every round trip is bounded: Redis down or silent means a
//! `KvError::Storage` naming the URL within [`CALL_DEADLINE`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, Weak};

use ::redis::{ConnectionInfo, IntoConnectionInfo, RedisResult};
use bytes::Bytes;

use super::AsyncStorage;
use crate::entry::{is_expired, Entry, ListedKey, Now, UnixSeconds};
use crate::error::{KvError, Result};
use crate::list::ListRequest;
use cluster::Hiccup;
use connection::{describe, is_connection_error, no_answer, redact_password, unreachable_error, Link};
use layout::{encode_record, lex_bounds, redis_expiry, KeySpace, StoredMeta};

// Namespace registry (hash `miniflare-kv:namespaces`), namespace deletion, bulk writes.
mod admin;
pub mod cluster;
mod connection;
mod layout;
pub mod wire;

pub use connection::CALL_DEADLINE;
pub use wire::{WireDriver, WireLink};

const SCAN_COUNT: usize = 1000;

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
    link: Link,
    /// Keys carry hash tags (see the module docs).
    cluster: bool,
    /// Lets one index build run at a time, so that concurrent first lists
    /// of a Miniflare 2 namespace do not all scan the keyspace.
    index_build: tokio::sync::Mutex<()>,
    /// The URL as given (it may hold a password: never shown).
    url: String,
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
    /// The caller's event-loop-driven connection, once attached.
    wire: OnceLock<Arc<SharedConnection>>,
}

impl RedisStorage {
    /// Connects to `url` (`redis[s]://[user][:password@]host[:port][,host[:port]…][/db][#insecure]`),
    /// or joins this process's existing connection to it. Must be called
    /// inside a Tokio runtime (see the module docs).
    pub async fn connect(url: &str) -> Result<RedisStorage> {
        let display_url = redact_password(url);
        if let Some(shared) = connections().get(url).and_then(Weak::upgrade) {
            return Ok(RedisStorage::over(shared));
        }
        let link = connection::open(url, &display_url).await?;
        let mut registry = connections();
        // Another caller may have connected meanwhile: share theirs.
        if let Some(shared) = registry.get(url).and_then(Weak::upgrade) {
            return Ok(RedisStorage::over(shared));
        }
        registry.retain(|_, connection| connection.strong_count() > 0);
        let cluster = matches!(link, Link::Cluster(_));
        let shared = Arc::new(SharedConnection {
            link,
            cluster,
            index_build: Default::default(),
            url: url.to_owned(),
            display_url,
        });
        registry.insert(url.to_owned(), Arc::downgrade(&shared));
        Ok(RedisStorage::over(shared))
    }

    fn over(shared: Arc<SharedConnection>) -> RedisStorage {
        RedisStorage { shared, wire: OnceLock::new() }
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.shared.cluster
    }

    /// The connection details a [`WireLink`] driver needs, when this store
    /// can be driven that way: one server over plain TCP.
    pub fn wire_target(&self) -> Option<ConnectionInfo> {
        let plain = self.shared.url.starts_with("redis://");
        if !plain || !matches!(self.shared.link, Link::Single(_)) || self.wire.get().is_some() {
            return None;
        }
        let info = self.shared.url.as_str().into_connection_info().ok()?;
        wire::drivable(&info).then_some(info)
    }

    /// Whether calls go through a [`WireLink`].
    pub fn wire_attached(&self) -> bool {
        self.wire.get().is_some()
    }

    /// The URL as given, to key a driver's connections by (holds any password).
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// From now on, every call goes through `link` (see [`wire`]). Once only:
    /// a second link is ignored.
    pub fn attach_wire(&self, link: WireLink) {
        let shared = &self.shared;
        let _ = self.wire.set(Arc::new(SharedConnection {
            link: Link::Wire(link),
            cluster: false,
            index_build: Default::default(),
            url: shared.url.clone(),
            display_url: shared.display_url.clone(),
        }));
    }

    fn active(&self) -> &SharedConnection {
        self.wire.get().map_or(&*self.shared, |wire| &**wire)
    }

    fn keys(&self, namespace: &str) -> KeySpace {
        KeySpace::new(namespace, self.shared.cluster)
    }

    /// Runs one round trip, bounded by [`CALL_DEADLINE`]. A connection error
    /// (Redis restarted, or the connection dropped) is retried once: the
    /// connection is made again on the first failure. Every operation here is
    /// idempotent, so a retry cannot do harm. A wire link bounds its calls
    /// itself (no Tokio timer on an event loop thread) and is not retried
    /// after a timeout, which already used up the time.
    async fn round_trip<T, F, Fut>(&self, operation: F) -> Result<T>
    where
        F: Fn(Link) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.round_trip_in(None, operation).await
    }

    /// [`Self::round_trip`] for a call whose keys are all in the slot of
    /// `slot_key` (a namespace's keys share one). On a cluster, a redirection
    /// reported inside a pipeline or `MULTI` (which the `redis` crate's
    /// client does not follow) is followed here: after `MOVED`, one plain
    /// command on `slot_key` makes the client learn the slot's new owner; while
    /// the slot migrates (`ASK`, `TRYAGAIN`) the call waits for its keys to
    /// arrive. A slot nobody serves (a failover) rejects at once.
    async fn round_trip_in<T, F, Fut>(&self, slot_key: Option<&[u8]>, operation: F) -> Result<T>
    where
        F: Fn(Link) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let active = self.active();
        let attempts = async {
            let mut result = match operation(active.link.clone()).await {
                Err(e) if is_connection_error(&e) && !(e.is_timeout() && matches!(active.link, Link::Wire(_))) => {
                    operation(active.link.clone()).await
                }
                result => result,
            };
            if matches!(active.link, Link::Cluster(_)) {
                let started = std::time::Instant::now();
                while started.elapsed() < cluster::REDIRECTION_PATIENCE {
                    let Err(e) = &result else { break };
                    match cluster::hiccup(e) {
                        Some(Hiccup::Moved) if slot_key.is_some() => {
                            let mut link = active.link.clone();
                            let probe = ::redis::cmd("EXISTS").arg(slot_key).clone();
                            let _: RedisResult<i64> = probe.query_async(&mut link).await;
                        }
                        Some(Hiccup::Moved | Hiccup::Migrating) => tokio::time::sleep(cluster::MIGRATION_POLL).await,
                        Some(Hiccup::Down) | None => break,
                    }
                    result = operation(active.link.clone()).await;
                }
            }
            result
        };
        let outcome = if matches!(active.link, Link::Wire(_)) {
            Ok(attempts.await)
        } else {
            tokio::time::timeout(CALL_DEADLINE, attempts).await
        };
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if is_connection_error(&e) => {
                Err(unreachable_error(&active.display_url, &describe(&active.display_url, &e)))
            }
            // Redirections that did not settle, or a cluster that lost a
            // master: say so, without the protocol's words.
            Ok(Err(e)) if e.is_cluster_error() || cluster::hiccup(&e).is_some() => {
                Err(unreachable_error(&active.display_url, cluster::NOT_SERVING))
            }
            Ok(Err(e)) => Err(KvError::Storage(format!("Redis at {} failed: {e}", active.display_url))),
            Err(_) => Err(unreachable_error(&active.display_url, &no_answer())),
        }
    }

    /// The meta records' `PTTL`-derived expirations for Miniflare 2 entries:
    /// `None` = the value key is gone, `Some(None)` = no expiry.
    async fn miniflare2_expirations(&self, value_keys: &[Vec<u8>]) -> Result<Vec<Option<Option<UnixSeconds>>>> {
        if value_keys.is_empty() {
            return Ok(Vec::new());
        }
        let replies: Vec<i64> = self
            .round_trip_in(Some(&value_keys[0]), |mut connection| async move {
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
        let index = self.keys(namespace).index();
        let _one_at_a_time = self.active().index_build.lock().await;
        let built: Option<String> = self
            .round_trip(|mut connection| {
                let index = index.as_slice();
                async move { ::redis::cmd("ZSCORE").arg(index).arg(INDEX_BUILT_MARKER).query_async(&mut connection).await }
            })
            .await?;
        if built.is_some() {
            return Ok(()); // built while we waited
        }
        let keys = self.keys(namespace);
        let pattern = format!("{}:value:*", layout::escape_glob(keys.part()));
        let name_start = keys.part().len() + ":value:".len();
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
        let keys = self.keys(namespace);
        let index = keys.index();
        self.round_trip_in(Some(&index), |mut connection| {
            let (index, keys) = (index.as_slice(), &keys);
            async move {
                let mut eval = ::redis::cmd("EVAL");
                eval.arg(RECLAIM_SCRIPT).arg(1 + 2 * seen.len()).arg(index);
                for (key, _) in seen {
                    eval.arg(keys.value(key)).arg(keys.meta(key));
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
        let keys = self.keys(namespace);
        let (value_key, meta_key) = (keys.value(key), keys.meta(key));
        let (value, record): (Option<Vec<u8>>, Option<Vec<u8>>) = self
            .round_trip_in(Some(&value_key), |mut connection| {
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
        let keys = self.keys(namespace);
        let (value_key, meta_key, index) = (keys.value(key), keys.meta(key), keys.index());
        let record = encode_record(key, &entry);
        let redis_expiry = entry.expiration.map(redis_expiry);
        self.round_trip_in(Some(&index), |mut connection| {
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
        let keys = self.keys(namespace);
        let (value_key, meta_key, index) = (keys.value(key), keys.meta(key), keys.index());
        self.round_trip_in(Some(&index), |mut connection| {
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
        let keys = self.keys(namespace);
        let index = keys.index();
        let wanted = request.fetch_count();
        let (mut lower, upper) = lex_bounds(request);
        let mut rows = Vec::with_capacity(wanted.min(1024));
        let mut to_reclaim: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut checked_index = false;
        while rows.len() < wanted {
            let batch = wanted - rows.len();
            let (built, members): (Option<String>, Vec<Vec<u8>>) = self
                .round_trip_in(Some(&index), |mut connection| {
                    let (index, lower, upper) = (&index, &lower, &upper);
                    async move {
                        let mut pipe = ::redis::pipe();
                        pipe.cmd("ZSCORE").arg(index).arg(INDEX_BUILT_MARKER);
                        pipe.cmd("ZRANGEBYLEX").arg(index).arg(lower).arg(upper).arg("LIMIT").arg(0).arg(batch);
                        pipe.query_async(&mut connection).await
                    }
                })
                .await?;
            // Miniflare 2 wrote no cluster layout: nothing to index there.
            if !checked_index && built.is_none() && !self.shared.cluster {
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
                    .map(|&at| keys.value(&page[at].as_ref().expect("just pushed").name))
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
        let keys = &self.keys(namespace);
        let index = keys.index();
        self.round_trip_in(Some(&index), |mut connection| async move {
            let mut mget = ::redis::cmd("MGET");
            for name in names {
                mget.arg(keys.meta(name));
            }
            mget.query_async(&mut connection).await
        })
        .await
    }
}
