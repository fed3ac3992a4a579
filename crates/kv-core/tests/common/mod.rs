//! A backend-independent contract suite for synchronous [`Storage`] backends:
//! every backend must give the same answers through the [`Kv`] facade.

use kv_core::{Bytes, Kv, ListOptions, Now, PutOptions, Storage};

pub const NOW: Now = Now(1_700_000_000_000.0);

pub fn put(kv: &Kv<impl Storage>, ns: &str, key: &str, value: &str) {
    kv.put(ns, key, Bytes::copy_from_slice(value.as_bytes()), PutOptions::default(), NOW).unwrap();
}

pub fn get(kv: &Kv<impl Storage>, ns: &str, key: &str, now: Now) -> Option<String> {
    kv.get(ns, key, None, now).unwrap().map(|e| String::from_utf8(e.value.to_vec()).unwrap())
}

pub fn list_all(kv: &Kv<impl Storage>, ns: &str, prefix: Option<&str>, limit: i32, now: Now) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            kv.list(ns, ListOptions { prefix: prefix.map(Into::into), limit: Some(limit), cursor }, now).unwrap();
        names.extend(page.keys.iter().map(|k| k.name.clone()));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return names,
        }
    }
}

/// Runs every check against fresh storage from `make`.
pub fn run_contract<S: Storage>(make: impl Fn() -> S) {
    round_trip_and_overwrite(Kv::new(make()));
    namespaces_are_separate(Kv::new(make()));
    utf8_byte_order(Kv::new(make()));
    paging_resumes_after_deleted_cursor(Kv::new(make()));
    expiry_follows_the_callers_clock(Kv::new(make()));
    metadata_and_expiration_in_list(Kv::new(make()));
    read_value_agrees_with_get(Kv::new(make()));
}

fn round_trip_and_overwrite<S: Storage>(kv: Kv<S>) {
    assert_eq!(get(&kv, "ns", "k", NOW), None);
    put(&kv, "ns", "k", "one");
    assert_eq!(get(&kv, "ns", "k", NOW).as_deref(), Some("one"));
    put(&kv, "ns", "k", "");
    assert_eq!(get(&kv, "ns", "k", NOW).as_deref(), Some(""));
    kv.delete("ns", "k").unwrap();
    assert_eq!(get(&kv, "ns", "k", NOW), None);
    kv.delete("ns", "never-existed").unwrap();
}

fn namespaces_are_separate<S: Storage>(kv: Kv<S>) {
    put(&kv, "a", "k", "in a");
    put(&kv, "b", "k", "in b");
    put(&kv, "a:b", "k", "in a:b");
    assert_eq!(get(&kv, "a", "k", NOW).as_deref(), Some("in a"));
    assert_eq!(get(&kv, "b", "k", NOW).as_deref(), Some("in b"));
    assert_eq!(get(&kv, "a:b", "k", NOW).as_deref(), Some("in a:b"));
    assert_eq!(list_all(&kv, "a", None, 1000, NOW), vec!["k"]);
}

fn utf8_byte_order<S: Storage>(kv: Kv<S>) {
    let expected = [
        "\u{0}x", "B", "a", "a b", "a/b", "aa", "b", "e\u{301}", "z", "~", "\u{7f}", "\u{80}", "é", "\u{d7ff}",
        "\u{e000}", "\u{ffff}", "😀",
    ];
    for key in expected.iter().rev() {
        put(&kv, "ns", key, key);
    }
    assert_eq!(list_all(&kv, "ns", None, 1000, NOW), expected);
    assert_eq!(list_all(&kv, "ns", None, 3, NOW), expected);
    assert_eq!(list_all(&kv, "ns", Some("a"), 1, NOW), vec!["a", "a b", "a/b", "aa"]);
}

fn paging_resumes_after_deleted_cursor<S: Storage>(kv: Kv<S>) {
    for i in 0..10 {
        put(&kv, "ns", &format!("k{i}"), "v");
    }
    let first = kv.list("ns", ListOptions { limit: Some(3), ..Default::default() }, NOW).unwrap();
    assert_eq!(first.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["k0", "k1", "k2"]);
    kv.delete("ns", "k2").unwrap();
    kv.delete("ns", "k3").unwrap();
    let second =
        kv.list("ns", ListOptions { limit: Some(3), cursor: first.cursor, ..Default::default() }, NOW).unwrap();
    assert_eq!(second.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["k4", "k5", "k6"]);
    // Exactly the remaining count: complete, no trailing empty page.
    let third =
        kv.list("ns", ListOptions { limit: Some(3), cursor: second.cursor, ..Default::default() }, NOW).unwrap();
    assert_eq!(third.keys.len(), 3);
    assert!(third.list_complete());
}

fn expiry_follows_the_callers_clock<S: Storage>(kv: Kv<S>) {
    let opts = PutOptions { expiration_ttl: Some(60), ..Default::default() };
    kv.put("ns", "ttl", Bytes::from_static(b"v"), opts, NOW).unwrap();
    put(&kv, "ns", "plain", "v");
    let expires = NOW.seconds() + 60;
    let just_before = Now((expires * 1000 - 1) as f64);
    let at = Now((expires * 1000) as f64);
    assert_eq!(get(&kv, "ns", "ttl", just_before).as_deref(), Some("v"));
    assert_eq!(list_all(&kv, "ns", None, 1000, just_before), vec!["plain", "ttl"]);
    assert_eq!(get(&kv, "ns", "ttl", at), None);
    assert_eq!(list_all(&kv, "ns", None, 1000, at), vec!["plain"]);
    // Reclaimed: even an earlier clock no longer sees it.
    assert_eq!(get(&kv, "ns", "ttl", NOW), None);
}

fn metadata_and_expiration_in_list<S: Storage>(kv: Kv<S>) {
    let opts = PutOptions {
        expiration: Some((NOW.seconds() + 120) as i32),
        metadata_json: Some(r#"{"a":1}"#.into()),
        ..Default::default()
    };
    kv.put("ns", "both", Bytes::from_static(b"v"), opts, NOW).unwrap();
    let falsy = PutOptions { metadata_json: Some("false".into()), ..Default::default() };
    kv.put("ns", "falsy", Bytes::from_static(b"v"), falsy, NOW).unwrap();
    put(&kv, "ns", "none", "v");
    let page = kv.list("ns", ListOptions::default(), NOW).unwrap();
    let by_name = |n: &str| page.keys.iter().find(|k| k.name == n).unwrap().clone();
    assert_eq!(by_name("both").expiration, Some(NOW.seconds() + 120));
    assert_eq!(by_name("both").metadata.as_deref(), Some(r#"{"a":1}"#));
    assert_eq!(by_name("falsy").metadata.as_deref(), Some("false"));
    assert_eq!(by_name("none").metadata, None);
    assert_eq!(by_name("none").expiration, None);
    // Overwriting without metadata drops the old metadata.
    put(&kv, "ns", "both", "w");
    let entry = kv.get("ns", "both", None, NOW).unwrap().unwrap();
    assert_eq!((entry.metadata, entry.expiration), (None, None));
}

/// `read_value` (the binding's text fast path) answers exactly as `get`.
fn read_value_agrees_with_get<S: Storage>(kv: Kv<S>) {
    let mut out = b"stale".to_vec();
    assert!(!kv.read_value("ns", "missing", None, NOW, &mut out).unwrap());
    assert!(out.is_empty(), "a miss clears the buffer");
    put(&kv, "ns", "k", "value");
    assert!(kv.read_value("ns", "k", None, NOW, &mut out).unwrap());
    assert_eq!(out, b"value");
    let opts = PutOptions { expiration_ttl: Some(60), ..Default::default() };
    kv.put("ns", "ttl", Bytes::from_static(b"v"), opts, NOW).unwrap();
    let expired = Now(((NOW.seconds() + 60) * 1000) as f64);
    assert!(!kv.read_value("ns", "ttl", None, expired, &mut out).unwrap());
    assert_eq!(get(&kv, "ns", "ttl", NOW), None, "an expired entry is reclaimed");
    assert!(kv.read_value("ns", "", None, NOW, &mut out).is_err(), "keys are validated");
    assert!(kv.read_value("ns", "k", Some(29), NOW, &mut out).is_err(), "cacheTtl is validated");
}
