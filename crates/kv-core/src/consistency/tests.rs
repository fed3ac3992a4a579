//! The location-cache model over a memory store, location by location: stale
//! reads until the reader's cacheTtl passes, the writer's own reads, negative
//! caching, list caching, expiry inside caches, settling, and the guards that
//! keep a late read from refilling a cache with an old answer.

use super::*;
use crate::entry::ListedKey;
use crate::storage::MemoryStorage;
use crate::ErrorClass;

const T0: f64 = 1_700_000_000_000.0;
const NS: &str = "ns";

fn at(seconds: f64) -> Now {
    Now(T0 + seconds * 1000.0)
}

struct World {
    kv: Kv<MemoryStorage>,
    locations: Locations,
}

impl World {
    fn new() -> Self {
        World { kv: Kv::new(MemoryStorage::new()), locations: Locations::new() }
    }
    fn at(&self, location: &str) -> Arc<LocationCache> {
        self.locations.cache(location, NS)
    }
    fn get(&self, location: &str, key: &str, ttl: Option<i32>, now: Now) -> Option<String> {
        let entry = self.at(location).get(&self.kv, NS, key, ttl, now).unwrap();
        entry.map(|e| String::from_utf8(e.value.to_vec()).unwrap())
    }
    fn put(&self, location: &str, key: &str, value: &str, now: Now) {
        self.at(location).put(&self.kv, NS, key, Bytes::from(value.to_owned()), PutOptions::default(), now).unwrap();
    }
    fn names(&self, location: &str, prefix: &str, now: Now) -> Vec<String> {
        let options = ListOptions { prefix: Some(prefix.to_owned()), ..Default::default() };
        let page = self.at(location).list(&self.kv, NS, options, now).unwrap();
        page.keys.into_iter().map(|k| k.name).collect()
    }
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn another_location_reads_its_cached_value_until_its_cache_ttl_passes() {
    let w = World::new();
    w.put("ams", "k", "v1", at(0.0));
    assert_eq!(w.get("lhr", "k", None, at(1.0)), some("v1")); // cached at lhr until 61 s
    w.put("ams", "k", "v2", at(2.0));
    assert_eq!(w.get("ams", "k", None, at(2.0)), some("v2"), "the writer reads its own write");
    assert_eq!(w.get("lhr", "k", None, at(60.999)), some("v1"), "stale until the cached copy expires");
    assert_eq!(w.get("lhr", "k", None, at(61.0)), some("v2"));
    // A third location had nothing cached: it sees the store at once.
    assert_eq!(w.get("sin", "k", None, at(3.0)), some("v2"));
}

#[test]
fn cache_ttl_30_60_300_set_how_long_an_answer_is_kept() {
    for ttl in [30, 60, 300] {
        let w = World::new();
        w.put("ams", "k", "old", at(0.0));
        assert_eq!(w.get("lhr", "k", Some(ttl), at(0.0)), some("old"));
        w.put("ams", "k", "new", at(1.0));
        let ttl = f64::from(ttl);
        assert_eq!(w.get("lhr", "k", Some(30), at(ttl - 0.001)), some("old"), "ttl {ttl}: still cached");
        assert_eq!(w.get("lhr", "k", Some(30), at(ttl)), some("new"), "ttl {ttl}: expired at exactly ttl");
    }
}

#[test]
fn the_default_cache_ttl_is_60_seconds() {
    let w = World::new();
    w.put("ams", "k", "old", at(0.0));
    assert_eq!(w.get("lhr", "k", None, at(0.0)), some("old"));
    w.put("ams", "k", "new", at(0.0));
    assert_eq!(w.get("lhr", "k", None, at(59.999)), some("old"));
    assert_eq!(w.get("lhr", "k", None, at(60.0)), some("new"));
}

#[test]
fn a_later_read_with_another_cache_ttl_does_not_extend_or_shorten_the_cached_answer() {
    let w = World::new();
    w.put("ams", "k", "old", at(0.0));
    assert_eq!(w.get("lhr", "k", Some(300), at(0.0)), some("old"));
    w.put("ams", "k", "new", at(1.0));
    assert_eq!(w.get("lhr", "k", Some(30), at(100.0)), some("old"), "the 300 s answer stands");
    assert_eq!(w.get("lhr", "k", Some(30), at(300.0)), some("new"));
}

#[test]
fn not_found_is_cached_too() {
    let w = World::new();
    assert_eq!(w.get("lhr", "k", None, at(0.0)), None);
    w.put("ams", "k", "v", at(1.0));
    assert_eq!(w.get("lhr", "k", None, at(59.0)), None, "the negative answer is cached");
    assert_eq!(w.get("lhr", "k", None, at(60.0)), some("v"));
}

#[test]
fn a_delete_caches_not_found_at_the_deleting_location_only() {
    let w = World::new();
    w.put("ams", "k", "v", at(0.0));
    assert_eq!(w.get("lhr", "k", None, at(0.0)), some("v"));
    w.at("ams").delete(&w.kv, NS, "k", at(1.0)).unwrap();
    assert_eq!(w.get("ams", "k", None, at(1.0)), None);
    // The deleting location's "not found" lasts the write TTL: a write from
    // elsewhere reaches it only then.
    w.put("sin", "k", "back", at(2.0));
    assert_eq!(w.get("ams", "k", None, at(60.999)), None);
    assert_eq!(w.get("ams", "k", None, at(61.0)), some("back"));
    assert_eq!(w.get("lhr", "k", None, at(59.0)), some("v"), "lhr still has the old value cached");
    assert_eq!(w.get("lhr", "k", None, at(60.0)), some("back"));
}

#[test]
fn the_writers_own_answer_is_kept_for_the_write_ttl() {
    let w = World::new();
    w.put("ams", "k", "mine", at(0.0));
    w.put("lhr", "k", "theirs", at(1.0));
    assert_eq!(w.get("ams", "k", Some(300), at(59.999)), some("mine"));
    assert_eq!(w.get("ams", "k", None, at(60.0)), some("theirs"));
}

#[test]
fn expiry_still_applies_to_cached_values() {
    let w = World::new();
    let expiration = at(120.0).seconds();
    let options = PutOptions { expiration: Some(expiration as i32), ..Default::default() };
    w.at("ams").put(&w.kv, NS, "k", Bytes::from_static(b"v"), options, at(0.0)).unwrap();
    assert_eq!(w.get("lhr", "k", Some(300), at(0.0)), some("v"));
    assert_eq!(w.get("lhr", "k", Some(300), at(119.999)), some("v"));
    assert_eq!(w.get("lhr", "k", Some(300), at(120.0)), None, "cached, but expired");
    assert_eq!(w.get("ams", "k", None, at(120.0)), None, "the writer's cached copy expires too");
}

#[test]
fn bulk_reads_follow_the_rule_key_by_key_and_share_answers_with_get() {
    let w = World::new();
    w.put("ams", "a", "a1", at(0.0));
    assert_eq!(w.get("lhr", "a", None, at(0.0)), some("a1")); // a cached at lhr until 60 s
    w.put("ams", "a", "a2", at(30.0));
    w.put("ams", "b", "b1", at(30.0));
    let keys = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let read = |now| -> Vec<Option<String>> {
        let entries = w.at("lhr").get_bulk(&w.kv, NS, &keys, "text", None, now).unwrap();
        entries.into_iter().map(|e| e.map(|e| String::from_utf8(e.value.to_vec()).unwrap())).collect()
    };
    // b and c were not cached: read now (and cached until 100 s).
    assert_eq!(read(at(40.0)), vec![some("a1"), some("b1"), None]);
    w.put("ams", "c", "c1", at(41.0));
    assert_eq!(read(at(60.0)), vec![some("a2"), some("b1"), None]);
    assert_eq!(w.get("lhr", "c", None, at(99.0)), None, "get sees the bulk read's cached miss");
    assert_eq!(read(at(100.0)), vec![some("a2"), some("b1"), some("c1")]);
}

#[test]
fn metadata_is_cached_with_the_value() {
    let w = World::new();
    let options = |m: &str| PutOptions { metadata_json: Some(m.to_owned()), ..Default::default() };
    w.at("ams").put(&w.kv, NS, "k", Bytes::from_static(b"v"), options("{\"v\":1}"), at(0.0)).unwrap();
    let meta = |now| w.at("lhr").get(&w.kv, NS, "k", None, now).unwrap().unwrap().metadata.unwrap().to_string();
    assert_eq!(meta(at(0.0)), "{\"v\":1}");
    w.at("ams").put(&w.kv, NS, "k", Bytes::from_static(b"v"), options("{\"v\":2}"), at(1.0)).unwrap();
    assert_eq!(meta(at(59.0)), "{\"v\":1}");
    assert_eq!(meta(at(60.0)), "{\"v\":2}");
}

#[test]
fn list_pages_are_cached_per_location_and_request_for_60_seconds_and_writes_leave_them_alone() {
    let w = World::new();
    w.put("ams", "user:1", "x", at(0.0));
    assert_eq!(w.names("ams", "user:", at(0.0)), vec!["user:1"]);
    assert_eq!(w.names("lhr", "user:", at(0.0)), vec!["user:1"]);
    w.put("ams", "user:2", "x", at(1.0));
    // Even the writer's cached page is kept ("up to 60 seconds ... when listing keys").
    assert_eq!(w.names("ams", "user:", at(59.999)), vec!["user:1"]);
    assert_eq!(w.names("lhr", "user:", at(59.999)), vec!["user:1"]);
    // Another prefix, or another location, has no page cached: it lists the store.
    assert_eq!(w.names("ams", "user", at(2.0)), vec!["user:1", "user:2"]);
    assert_eq!(w.names("sin", "user:", at(2.0)), vec!["user:1", "user:2"]);
    assert_eq!(w.names("ams", "user:", at(60.0)), vec!["user:1", "user:2"]);
    // list does not fill per-key answers: a read after it sees the store.
    w.put("lhr", "user:1", "y", at(61.0));
    assert_eq!(w.get("ams", "user:1", None, at(61.0)), some("y"));
}

#[test]
fn list_caches_tell_limit_and_cursor_apart_and_normalise_the_limit() {
    let w = World::new();
    for k in ["a", "b", "c"] {
        w.put("ams", k, "x", at(0.0));
    }
    let list = |limit: Option<i32>, cursor: Option<String>, now| {
        w.at("lhr").list(&w.kv, NS, ListOptions { prefix: None, limit, cursor }, now).unwrap()
    };
    let first = list(Some(2), None, at(0.0));
    assert_eq!(first.keys.len(), 2);
    let whole = list(None, None, at(0.0));
    assert_eq!(whole.keys.len(), 3);
    w.put("ams", "d", "x", at(1.0));
    assert_eq!(list(Some(0), None, at(2.0)).keys.len(), 3, "limit 0 is the default page, cached");
    assert_eq!(list(Some(1000), None, at(2.0)).keys.len(), 3, "limit 1000 likewise");
    let rest = list(Some(2), first.cursor.clone(), at(2.0));
    assert_eq!(rest.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), vec!["c", "d"], "new request: store");
}

#[test]
fn keys_expired_since_a_page_was_cached_are_left_out() {
    let w = World::new();
    let options = PutOptions { expiration_ttl: Some(60), ..Default::default() };
    w.at("ams").put(&w.kv, NS, "short", Bytes::from_static(b"x"), options, at(0.0)).unwrap();
    w.put("ams", "long", "x", at(0.0));
    assert_eq!(w.names("lhr", "", at(30.0)), vec!["long", "short"]); // cached until 90 s
    let request = ListRequest::new(None, None, None).unwrap();
    let page = w.at("lhr").lookup_list(&request, at(59.999)).unwrap();
    assert_eq!(page.keys[1], ListedKey { name: "short".into(), expiration: Some(at(60.0).seconds()), metadata: None });
    assert_eq!(w.names("lhr", "", at(60.0)), vec!["long"], "short expires at 60 s, inside the cached page");
}

#[test]
fn settle_forgets_every_location_and_namespace() {
    let w = World::new();
    w.put("ams", "k", "v1", at(0.0));
    assert_eq!(w.get("lhr", "k", None, at(0.0)), some("v1"));
    assert_eq!(w.names("lhr", "", at(0.0)), vec!["k"]);
    let other = w.locations.cache("lhr", "other-ns");
    other.wrote("x", None, at(0.0));
    w.put("ams", "k2", "v", at(1.0));
    w.put("ams", "k", "v2", at(1.0));
    w.locations.settle();
    assert!(other.is_empty());
    assert_eq!(w.get("lhr", "k", None, at(2.0)), some("v2"));
    assert_eq!(w.names("lhr", "", at(2.0)), vec!["k", "k2"]);
}

#[test]
fn the_same_location_and_namespace_share_one_cache_and_namespaces_do_not_mix() {
    let w = World::new();
    assert!(Arc::ptr_eq(&w.locations.cache("ams", NS), &w.locations.cache("ams", NS)));
    assert!(!Arc::ptr_eq(&w.locations.cache("ams", NS), &w.locations.cache("ams", "other")));
    assert!(!Arc::ptr_eq(&w.locations.cache("ams", NS), &w.locations.cache("lhr", NS)));
}

#[test]
fn a_read_that_missed_before_a_clear_or_a_write_does_not_refill_the_cache() {
    let cache = LocationCache::default();
    let Lookup::Miss(ticket) = cache.lookup("k", at(0.0)) else { panic!("empty cache") };
    cache.clear();
    cache.remember("k", Some(Entry::new("old")), 60, at(0.0), ticket);
    assert!(matches!(cache.lookup("k", at(0.0)), Lookup::Miss(_)), "dropped: read before the clear");

    let Lookup::Miss(ticket) = cache.lookup("k", at(0.0)) else { panic!("empty cache") };
    cache.wrote("k", Some(Entry::new("new")), at(0.0));
    cache.remember("k", Some(Entry::new("old")), 60, at(0.0), ticket);
    assert_eq!(cache.lookup("k", at(1.0)), Lookup::Hit(Some(Entry::new("new"))), "the write's answer stands");
}

#[test]
fn dead_answers_are_swept_so_the_cache_stays_near_its_live_size() {
    let cache = LocationCache::default();
    for i in 0..10_000 {
        let now = at(f64::from(i));
        if let Lookup::Miss(t) = cache.lookup(&format!("k{i}"), now) {
            cache.remember(&format!("k{i}"), None, 30, now, t);
        }
    }
    // About 30 answers are live at any time; sweeps keep at most a few hundred.
    assert!(cache.len() <= 2 * FIRST_SWEEP_AT, "{} answers held", cache.len());
}

#[test]
fn validation_runs_on_cache_hits_in_kvs_order() {
    let w = World::new();
    w.put("ams", "k", "v", at(0.0));
    let cache = w.at("ams");
    let err = cache.get(&w.kv, NS, "k", Some(29), at(0.0)).unwrap_err();
    assert_eq!(err.to_string(), "KV GET failed: 400 Invalid cache_ttl of 29. Cache TTL must be at least 30.");
    let err = cache.get(&w.kv, NS, "", None, at(0.0)).unwrap_err();
    assert_eq!(err.class(), ErrorClass::TypeError);
    let keys = vec!["k".to_owned()];
    let err = cache.get_bulk(&w.kv, NS, &keys, "arrayBuffer", None, at(0.0)).unwrap_err();
    assert_eq!(err.to_string(), "KV GET_BULK failed: 400 \"arrayBuffer\" is not a valid type. Use \"json\" or \"text\"");
    let err = cache.get_bulk(&w.kv, NS, &keys, "json", None, at(0.0)).unwrap_err();
    assert!(err.to_string().contains("non-json value"), "{err}");
    let err = cache.list(&w.kv, NS, ListOptions { limit: Some(1001), ..Default::default() }, at(0.0)).unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    // A failed put leaves the cache as it was.
    let bad = PutOptions { expiration_ttl: Some(1), ..Default::default() };
    assert!(cache.put(&w.kv, NS, "k", Bytes::from_static(b"x"), bad, at(1.0)).is_err());
    assert_eq!(w.get("ams", "k", None, at(1.0)), some("v"));
}

/// A memory store driven through `AsyncStorage`, as Redis is.
struct AsAsync(MemoryStorage);

impl AsyncStorage for AsAsync {
    async fn get(&self, namespace: &str, key: &str, now: Now) -> Result<Option<Entry>> {
        self.0.get(namespace, key, now)
    }
    async fn put(&self, namespace: &str, key: &str, entry: Entry) -> Result<()> {
        self.0.put(namespace, key, entry)
    }
    async fn delete(&self, namespace: &str, key: &str) -> Result<()> {
        self.0.delete(namespace, key)
    }
    async fn list_range(&self, namespace: &str, request: &ListRequest, now: Now) -> Result<Vec<crate::ListedKey>> {
        self.0.list_range(namespace, request, now)
    }
    fn location(&self) -> String {
        self.0.location()
    }
}

#[tokio::test]
async fn the_asynchronous_operations_follow_the_same_model() {
    let kv = AsyncKv::new(AsAsync(MemoryStorage::new()));
    let locations = Locations::new();
    let (ams, lhr) = (locations.cache("ams", NS), locations.cache("lhr", NS));
    let text = |e: Option<Entry>| e.map(|e| String::from_utf8(e.value.to_vec()).unwrap());
    ams.put_async(&kv, NS, "k", Bytes::from_static(b"v1"), PutOptions::default(), at(0.0)).await.unwrap();
    assert_eq!(text(lhr.get_async(&kv, NS, "k", None, at(0.0)).await.unwrap()), some("v1"));
    assert_eq!(text(lhr.get_async(&kv, NS, "gone", None, at(0.0)).await.unwrap()), None);
    let page = lhr.list_async(&kv, NS, ListOptions::default(), at(0.0)).await.unwrap();
    assert_eq!(page.keys.len(), 1);
    ams.put_async(&kv, NS, "k", Bytes::from_static(b"v2"), PutOptions::default(), at(1.0)).await.unwrap();
    ams.put_async(&kv, NS, "gone", Bytes::from_static(b"here"), PutOptions::default(), at(1.0)).await.unwrap();
    assert_eq!(text(ams.get_async(&kv, NS, "k", None, at(1.0)).await.unwrap()), some("v2"));
    let keys = vec!["k".to_owned(), "gone".to_owned(), "new".to_owned()];
    let bulk = lhr.get_bulk_async(&kv, NS, &keys, "text", None, at(59.0)).await.unwrap();
    assert_eq!(bulk.into_iter().map(text).collect::<Vec<_>>(), vec![some("v1"), None, None]);
    assert_eq!(lhr.list_async(&kv, NS, ListOptions::default(), at(59.0)).await.unwrap().keys.len(), 1);
    ams.delete_async(&kv, NS, "k", at(2.0)).await.unwrap();
    assert_eq!(text(ams.get_async(&kv, NS, "k", None, at(2.0)).await.unwrap()), None);
    assert_eq!(text(lhr.get_async(&kv, NS, "k", None, at(60.0)).await.unwrap()), None);
    assert_eq!(text(lhr.get_async(&kv, NS, "gone", None, at(60.0)).await.unwrap()), some("here"));
    assert_eq!(lhr.list_async(&kv, NS, ListOptions::default(), at(60.0)).await.unwrap().keys.len(), 1);
}
