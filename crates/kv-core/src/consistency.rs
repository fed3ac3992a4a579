//! Opt-in eventual consistency (issue 17): what each location has cached.
//!
//! Production KV answers a read from the cache of the location (data centre)
//! the Worker runs in; the answer — a value, or "not found" — stays cached for
//! the read's `cacheTtl` (default 60 s, at least 30). So "changes may take up
//! to 60 seconds to be visible when reading key-value pairs" (the runtime API
//! docs), and the same for `list`. The model here, for one store:
//!
//! - A read at location L of key K: if L has a live cached answer for K, that
//!   answer (a cached value whose own `expiration` has passed reads as "not
//!   found"); otherwise the central store's answer, cached at L for the read's
//!   `cacheTtl`. Bulk reads follow the same rule key by key; `get` and
//!   `getWithMetadata` share one cache (the entry holds value and metadata).
//! - A write or delete at L updates the central store, then L's cached answer
//!   for K at once (the value, or "not found"), cached for [`WRITE_CACHE_TTL_SECS`]:
//!   L reads its own write; other locations see it when their copy expires.
//! - A `list` page is cached per location and request (prefix, cursor, limit)
//!   for [`LIST_CACHE_TTL_SECS`]. Writes leave cached pages alone — at the
//!   writer's location too — and `list` leaves per-key answers alone. Keys
//!   whose `expiration` passed are left out of a cached page when served.
//! - [`Locations::settle`] forgets every cached answer (the eventual state).
//!
//! Time is the caller's [`Now`] (JavaScript's `Date.now()`), so fake timers
//! move caches. Writes made to the store without going through a location
//! (the local REST API, `miniflare kv`) reach every location when its cached
//! copy expires, as writes through Cloudflare's API do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::future::try_join_all;

use crate::entry::{is_expired, Entry, Now};
use crate::error::{Op, Result};
use crate::kv::{check_bulk_result, prepare_put, AsyncKv, Kv, ListOptions};
use crate::list::{ListPage, ListRequest};
use crate::storage::{AsyncStorage, Storage};
use crate::validate::{check_bulk_request, check_cache_ttl, check_key, PutOptions};

/// A read's `cacheTtl` when it gives none (production's default).
pub const DEFAULT_CACHE_TTL_SECS: i64 = 60;
/// How long the writer's own location keeps the answer its write or delete
/// left (the default read TTL: a write is treated like a fresh read of it).
pub const WRITE_CACHE_TTL_SECS: i64 = DEFAULT_CACHE_TTL_SECS;
/// How long a `list` page stays cached at a location.
pub const LIST_CACHE_TTL_SECS: i64 = 60;
/// Expired answers are swept when a cache reaches this size, then twice the live size.
const FIRST_SWEEP_AT: usize = 256;

/// Every location's caches for one store, by (location, namespace id).
#[derive(Default)]
pub struct Locations {
    caches: Mutex<HashMap<(String, String), Arc<LocationCache>>>,
}

impl Locations {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cache of `location` for namespace `namespace` (the same one for
    /// every caller, so two bindings of one namespace id share it).
    pub fn cache(&self, location: &str, namespace: &str) -> Arc<LocationCache> {
        let mut caches = lock(&self.caches);
        caches.entry((location.to_owned(), namespace.to_owned())).or_default().clone()
    }

    /// Forgets every location's cached answers: the next read anywhere sees
    /// the central store.
    pub fn settle(&self) {
        for cache in lock(&self.caches).values() {
            cache.clear();
        }
    }
}

/// One location's cached answers for one namespace.
#[derive(Default)]
pub struct LocationCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Cached<Option<Entry>>>,
    lists: HashMap<ListKey, Cached<ListPage>>,
    /// Bumped by `clear`, so a read that missed before it cannot refill the
    /// cache with what it read before the clear.
    generation: u64,
    sweep_keys_at: usize,
    sweep_lists_at: usize,
}

/// A cached answer and the instant (ms since the epoch) it stops being used.
#[derive(Clone)]
struct Cached<T> {
    answer: T,
    until_ms: f64,
}

impl<T> Cached<T> {
    fn new(answer: T, ttl_secs: i64, now: Now) -> Self {
        Cached { answer, until_ms: now.0 + ttl_secs as f64 * 1000.0 }
    }
    fn is_live(&self, now: Now) -> bool {
        now.0 < self.until_ms
    }
}

/// A list request as the cache tells them apart (the decoded cursor and the
/// normalised limit, so `limit: 0` and no limit share a page).
#[derive(Clone, PartialEq, Eq, Hash)]
struct ListKey {
    prefix: String,
    start_after: Option<String>,
    limit: usize,
}

impl From<&ListRequest> for ListKey {
    fn from(r: &ListRequest) -> Self {
        ListKey { prefix: r.prefix.clone(), start_after: r.start_after.clone(), limit: r.limit }
    }
}

/// What a location knows about a key.
#[derive(Debug, PartialEq)]
pub enum Lookup {
    /// A live cached answer (`None`: "not found", or a value that has expired).
    Hit(Option<Entry>),
    /// Nothing live: read the store, then [`LocationCache::remember`] with this ticket.
    Miss(Ticket),
}

/// Proof of when a read missed; see [`LocationCache::remember`].
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct Ticket(u64);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps hold no invariant a panic could break halfway: keep using them.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Drops dead answers once the map has doubled since the last sweep, so a
/// cache holds about as many answers as are live, whatever the key count.
fn sweep<K, T>(map: &mut HashMap<K, Cached<T>>, sweep_at: &mut usize, now: Now) {
    if map.len() < (*sweep_at).max(FIRST_SWEEP_AT) {
        return;
    }
    map.retain(|_, cached| cached.is_live(now));
    *sweep_at = map.len() * 2;
}

fn read_ttl(cache_ttl: Option<i32>) -> i64 {
    cache_ttl.map_or(DEFAULT_CACHE_TTL_SECS, i64::from)
}

impl LocationCache {
    pub fn lookup(&self, key: &str, now: Now) -> Lookup {
        let state = lock(&self.state);
        match state.keys.get(key) {
            Some(cached) if cached.is_live(now) => {
                Lookup::Hit(cached.answer.as_ref().filter(|e| !e.is_expired(now)).cloned())
            }
            _ => Lookup::Miss(Ticket(state.generation)),
        }
    }

    /// Caches what a read that missed got from the store, for `ttl_secs` —
    /// unless the cache was cleared since, or a write (or another read) has
    /// cached a live answer meanwhile: that one is at least as new.
    pub fn remember(&self, key: &str, answer: Option<Entry>, ttl_secs: i64, now: Now, ticket: Ticket) {
        let mut state = lock(&self.state);
        if state.generation != ticket.0 || state.keys.get(key).is_some_and(|c| c.is_live(now)) {
            return;
        }
        let State { keys, sweep_keys_at, .. } = &mut *state;
        sweep(keys, sweep_keys_at, now);
        keys.insert(key.to_owned(), Cached::new(answer, ttl_secs, now));
    }

    /// A write (`Some`) or delete (`None`) made at this location.
    pub fn wrote(&self, key: &str, answer: Option<Entry>, now: Now) {
        let mut state = lock(&self.state);
        let State { keys, sweep_keys_at, .. } = &mut *state;
        sweep(keys, sweep_keys_at, now);
        keys.insert(key.to_owned(), Cached::new(answer, WRITE_CACHE_TTL_SECS, now));
    }

    /// A live cached page for `request` (keys expired since left out), or a miss.
    pub fn lookup_list(&self, request: &ListRequest, now: Now) -> std::result::Result<ListPage, Ticket> {
        let state = lock(&self.state);
        match state.lists.get(&ListKey::from(request)) {
            Some(cached) if cached.is_live(now) => {
                let keys = cached.answer.keys.iter().filter(|k| !is_expired(k.expiration, now)).cloned().collect();
                Ok(ListPage { keys, cursor: cached.answer.cursor.clone() })
            }
            _ => Err(Ticket(state.generation)),
        }
    }

    pub fn remember_list(&self, request: &ListRequest, page: ListPage, now: Now, ticket: Ticket) {
        let mut state = lock(&self.state);
        let key = ListKey::from(request);
        if state.generation != ticket.0 || state.lists.get(&key).is_some_and(|c| c.is_live(now)) {
            return;
        }
        let State { lists, sweep_lists_at, .. } = &mut *state;
        sweep(lists, sweep_lists_at, now);
        lists.insert(key, Cached::new(page, LIST_CACHE_TTL_SECS, now));
    }

    /// Forgets everything this location has cached.
    pub fn clear(&self) {
        let mut state = lock(&self.state);
        state.keys = HashMap::new();
        state.lists = HashMap::new();
        state.generation += 1;
    }

    /// How many answers (keys and list pages) are held, live or not; for tests.
    pub fn len(&self) -> usize {
        let state = lock(&self.state);
        state.keys.len() + state.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ---- The KV operations at this location, over a synchronous store. ----
    // Validation is Kv's, in the same order, and runs on cache hits too.

    pub fn get<S: Storage + ?Sized>(
        &self,
        kv: &Kv<S>,
        ns: &str,
        key: &str,
        cache_ttl: Option<i32>,
        now: Now,
    ) -> Result<Option<Entry>> {
        check_key(Op::Get, key)?;
        check_cache_ttl(Op::Get, cache_ttl)?;
        self.read_through(key, cache_ttl, now, || kv.storage().get(ns, key, now))
    }

    fn read_through(
        &self,
        key: &str,
        cache_ttl: Option<i32>,
        now: Now,
        read: impl FnOnce() -> Result<Option<Entry>>,
    ) -> Result<Option<Entry>> {
        match self.lookup(key, now) {
            Lookup::Hit(answer) => Ok(answer),
            Lookup::Miss(ticket) => {
                let answer = read()?;
                self.remember(key, answer.clone(), read_ttl(cache_ttl), now, ticket);
                Ok(answer)
            }
        }
    }

    pub fn get_bulk<S: Storage + ?Sized>(
        &self,
        kv: &Kv<S>,
        ns: &str,
        keys: &[String],
        value_type: &str,
        cache_ttl: Option<i32>,
        now: Now,
    ) -> Result<Vec<Option<Entry>>> {
        check_bulk_request(keys, value_type)?;
        check_cache_ttl(Op::GetBulk, cache_ttl)?;
        let entries = keys
            .iter()
            .map(|key| self.read_through(key, cache_ttl, now, || kv.storage().get(ns, key, now)))
            .collect::<Result<Vec<_>>>()?;
        check_bulk_result(&entries, value_type)?;
        Ok(entries)
    }

    pub fn put<S: Storage + ?Sized>(
        &self,
        kv: &Kv<S>,
        ns: &str,
        key: &str,
        value: Bytes,
        options: PutOptions,
        now: Now,
    ) -> Result<()> {
        let entry = prepare_put(key, value, options, now)?;
        kv.storage().put(ns, key, entry.clone())?;
        self.wrote(key, Some(entry), now);
        Ok(())
    }

    pub fn delete<S: Storage + ?Sized>(&self, kv: &Kv<S>, ns: &str, key: &str, now: Now) -> Result<()> {
        kv.delete(ns, key)?;
        self.wrote(key, None, now);
        Ok(())
    }

    pub fn list<S: Storage + ?Sized>(&self, kv: &Kv<S>, ns: &str, options: ListOptions, now: Now) -> Result<ListPage> {
        let request = ListRequest::new(options.prefix, options.limit, options.cursor.as_deref())?;
        match self.lookup_list(&request, now) {
            Ok(page) => Ok(page),
            Err(ticket) => {
                let page = request.page(kv.storage().list_range(ns, &request, now)?);
                self.remember_list(&request, page.clone(), now, ticket);
                Ok(page)
            }
        }
    }

    // ---- The same over an asynchronous store (Redis). The cache lock is
    // never held across an await. ----

    pub async fn get_async<S: AsyncStorage>(
        &self,
        kv: &AsyncKv<S>,
        ns: &str,
        key: &str,
        cache_ttl: Option<i32>,
        now: Now,
    ) -> Result<Option<Entry>> {
        check_key(Op::Get, key)?;
        check_cache_ttl(Op::Get, cache_ttl)?;
        match self.lookup(key, now) {
            Lookup::Hit(answer) => Ok(answer),
            Lookup::Miss(ticket) => {
                let answer = kv.storage().get(ns, key, now).await?;
                self.remember(key, answer.clone(), read_ttl(cache_ttl), now, ticket);
                Ok(answer)
            }
        }
    }

    pub async fn get_bulk_async<S: AsyncStorage>(
        &self,
        kv: &AsyncKv<S>,
        ns: &str,
        keys: &[String],
        value_type: &str,
        cache_ttl: Option<i32>,
        now: Now,
    ) -> Result<Vec<Option<Entry>>> {
        check_bulk_request(keys, value_type)?;
        check_cache_ttl(Op::GetBulk, cache_ttl)?;
        let lookups: Vec<Lookup> = keys.iter().map(|key| self.lookup(key, now)).collect();
        // The misses are read concurrently, as AsyncKv::get_bulk reads all keys.
        let reads = keys.iter().zip(&lookups).map(|(key, lookup)| async move {
            match lookup {
                Lookup::Hit(answer) => Ok(answer.clone()),
                Lookup::Miss(ticket) => {
                    let answer = kv.storage().get(ns, key, now).await?;
                    self.remember(key, answer.clone(), read_ttl(cache_ttl), now, *ticket);
                    Ok(answer)
                }
            }
        });
        let entries = try_join_all(reads).await?;
        check_bulk_result(&entries, value_type)?;
        Ok(entries)
    }

    pub async fn put_async<S: AsyncStorage>(
        &self,
        kv: &AsyncKv<S>,
        ns: &str,
        key: &str,
        value: Bytes,
        options: PutOptions,
        now: Now,
    ) -> Result<()> {
        let entry = prepare_put(key, value, options, now)?;
        kv.storage().put(ns, key, entry.clone()).await?;
        self.wrote(key, Some(entry), now);
        Ok(())
    }

    pub async fn delete_async<S: AsyncStorage>(&self, kv: &AsyncKv<S>, ns: &str, key: &str, now: Now) -> Result<()> {
        kv.delete(ns, key).await?;
        self.wrote(key, None, now);
        Ok(())
    }

    pub async fn list_async<S: AsyncStorage>(
        &self,
        kv: &AsyncKv<S>,
        ns: &str,
        options: ListOptions,
        now: Now,
    ) -> Result<ListPage> {
        let request = ListRequest::new(options.prefix, options.limit, options.cursor.as_deref())?;
        match self.lookup_list(&request, now) {
            Ok(page) => Ok(page),
            Err(ticket) => {
                let page = request.page(kv.storage().list_range(ns, &request, now).await?);
                self.remember_list(&request, page.clone(), now, ticket);
                Ok(page)
            }
        }
    }
}

#[cfg(test)]
mod tests;
