//! Namespace administration and bulk operations ([`NamespaceAdmin`]) on every
//! backend: memory, directory, sled and Redis (a private redis-server on a
//! free port, skipped with a note if `redis-server` is not installed).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kv_core::storage::{DirStorage, NamespaceAdmin, RedisStorage, SledStorage};
use kv_core::{AsyncKv, Bytes, Kv, KvError, ListOptions, Now, PutOptions};

const NOW: Now = Now(1_700_000_000_000.0);

fn scratch(name: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kv-admin-test-{}-{name}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn names<S: NamespaceAdmin>(kv: &Kv<S>, ns: &str) -> Vec<String> {
    let page = kv.list(ns, ListOptions::default(), NOW).unwrap();
    page.keys.into_iter().map(|k| k.name).collect()
}

fn get<S: NamespaceAdmin>(kv: &Kv<S>, ns: &str, key: &str) -> Option<String> {
    kv.get(ns, key, None, NOW).unwrap().map(|e| String::from_utf8(e.value.to_vec()).unwrap())
}

/// The same checks for every synchronous backend; `reopen` gives a second
/// handle on the same data (a new process, for persistent backends).
fn admin_contract<S: NamespaceAdmin>(kv: Kv<S>, reopen: impl Fn() -> Option<Kv<S>>) {
    // Registry: ids, unique titles, rename, listing.
    assert_eq!(kv.namespaces().unwrap(), vec![]);
    let a = kv.create_namespace("worker-A").unwrap();
    let b = kv.create_namespace("worker-B").unwrap();
    assert_eq!(a.id.len(), 32);
    assert_ne!(a.id, b.id);
    assert_eq!(kv.create_namespace("worker-A"), Err(KvError::NamespaceTitleExists("worker-A".into())));
    assert_eq!(kv.rename_namespace(&b.id, "worker-A"), Err(KvError::NamespaceTitleExists("worker-A".into())));
    assert_eq!(kv.rename_namespace("nope", "x"), Err(KvError::NamespaceNotFound("nope".into())));
    let b = kv.rename_namespace(&b.id, "worker-B2").unwrap();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(kv.namespaces().unwrap(), expected);
    if let Some(again) = reopen() {
        assert_eq!(again.namespaces().unwrap(), expected, "the registry persists");
    }

    // Bulk write with expiration, metadata and binary values; then bulk delete.
    let json = format!(
        r#"[{{"key":"k1","value":"one"}},{{"key":"k2","value":"AP8=","base64":true,"metadata":{{"m":1}}}},
           {{"key":"k3","value":"three","expiration":{}}}]"#,
        NOW.seconds() + 3600
    );
    let outcome = kv.put_bulk(&a.id, &json, 0, NOW, false).unwrap();
    assert_eq!(outcome.count, 3);
    assert_eq!(names(&kv, &a.id), ["k1", "k2", "k3"]);
    let k2 = kv.get(&a.id, "k2", None, NOW).unwrap().unwrap();
    assert_eq!((k2.value, k2.metadata.as_deref()), (Bytes::from_static(&[0, 255]), Some(r#"{"m":1}"#)));
    assert_eq!(kv.get(&a.id, "k3", None, NOW).unwrap().unwrap().expiration, Some(NOW.seconds() + 3600));
    // A rejected batch writes nothing, even its valid entries.
    let bad = r#"[{"key":"new","value":"v"},{"key":"k1","value":"changed","expiration_ttl":10}]"#;
    assert!(matches!(kv.put_bulk(&a.id, bad, 0, NOW, false), Err(KvError::BulkEntryInvalid { index: 1, .. })));
    assert_eq!(names(&kv, &a.id), ["k1", "k2", "k3"]);
    assert_eq!(get(&kv, &a.id, "k1").as_deref(), Some("one"));
    kv.delete_bulk(&a.id, r#"["k1", {"name":"k3"}, "never-there"]"#, 0, false).unwrap();
    assert_eq!(names(&kv, &a.id), ["k2"]);

    // Deleting a namespace removes its data and its registry entry only.
    kv.put(&b.id, "keep", Bytes::from_static(b"b"), PutOptions::default(), NOW).unwrap();
    kv.delete_namespace(&a.id, NOW).unwrap();
    assert_eq!(names(&kv, &a.id), Vec::<String>::new());
    assert_eq!(get(&kv, &a.id, "k2"), None);
    assert_eq!(kv.namespaces().unwrap(), vec![b.clone()]);
    assert_eq!(get(&kv, &b.id, "keep").as_deref(), Some("b"));
    assert_eq!(kv.delete_namespace(&a.id, NOW), Err(KvError::NamespaceNotFound(a.id.clone())));
    // The id can hold data again afterwards.
    kv.put(&a.id, "again", Bytes::from_static(b"x"), PutOptions::default(), NOW).unwrap();
    assert_eq!(names(&kv, &a.id), ["again"]);

    // A namespace that was never registered but holds data exists and can be deleted.
    kv.put("from-wrangler-toml", "k", Bytes::from_static(b"v"), PutOptions::default(), NOW).unwrap();
    assert!(kv.namespace_exists("from-wrangler-toml", NOW).unwrap());
    kv.delete_namespace("from-wrangler-toml", NOW).unwrap();
    assert!(!kv.namespace_exists("from-wrangler-toml", NOW).unwrap());
    assert_eq!(kv.namespaces().unwrap(), vec![b.clone()]);
    if let Some(again) = reopen() {
        assert_eq!(again.namespaces().unwrap(), vec![b.clone()]);
        assert_eq!(get(&again, &a.id, "again").as_deref(), Some("x"));
    }
}

#[test]
fn memory() {
    admin_contract(Kv::new(kv_core::MemoryStorage::new()), || None);
}

#[test]
fn directory() {
    let root = scratch("dir");
    let kv = Kv::new(DirStorage::open(&root).unwrap());
    admin_contract(kv, || Some(Kv::new(DirStorage::open(&root).unwrap())));
    // The registry sits beside namespace directories and never among them.
    assert!(root.join(".^kv-namespaces.json").is_file());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn directory_registry_cannot_collide_with_a_namespace() {
    let root = scratch("dir-collide");
    let kv = Kv::new(DirStorage::open(&root).unwrap());
    let info = kv.create_namespace("t").unwrap();
    for ns in [".^kv-namespaces.json", ".^kv-namespaces.lock", "..", "."] {
        kv.put(ns, "k", Bytes::from_static(b"v"), PutOptions::default(), NOW).unwrap();
        assert_eq!(kv.namespaces().unwrap(), vec![info.clone()], "namespace {ns:?}");
        kv.delete_namespace(ns, NOW).unwrap();
        assert_eq!(kv.namespaces().unwrap(), vec![info.clone()], "namespace {ns:?}");
        assert!(root.join(".^kv-namespaces.json").is_file());
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn sled() {
    let path = scratch("sled");
    // sled allows one open database per path per process; the registry
    // shares it, so "reopening" returns the same one.
    let kv = Kv::new(SledStorage::open(&path).unwrap());
    admin_contract(kv, || Some(Kv::new(SledStorage::open(&path).unwrap())));
    // Closed and opened again: still there.
    let again = Kv::new(SledStorage::open(&path).unwrap());
    assert_eq!(again.namespaces().unwrap().len(), 1);
    drop(again);
    std::fs::remove_dir_all(&path).unwrap();
}

// ---------------------------------------------------------------- Redis

struct RedisServer {
    port: u16,
    process: Child,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn start_redis() -> Option<RedisServer> {
    let port = TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let process = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = RedisServer { port, process };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

#[test]
fn redis() {
    let Some(server) = start_redis() else {
        eprintln!("redis-server is not installed: skipping the Redis admin test");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let url = format!("redis://127.0.0.1:{}", server.port);
        let kv = AsyncKv::new(RedisStorage::connect(&url).await.unwrap());
        let a = kv.create_namespace("worker-A").await.unwrap();
        let b = kv.create_namespace("worker-B").await.unwrap();
        assert_eq!(kv.create_namespace("worker-A").await, Err(KvError::NamespaceTitleExists("worker-A".into())));
        assert_eq!(kv.rename_namespace(&b.id, "worker-A").await, Err(KvError::NamespaceTitleExists("worker-A".into())));
        assert_eq!(kv.rename_namespace("nope", "x").await, Err(KvError::NamespaceNotFound("nope".into())));
        let b = kv.rename_namespace(&b.id, "worker-B2").await.unwrap();
        let mut expected = vec![a.clone(), b.clone()];
        expected.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(kv.namespaces().await.unwrap(), expected);

        let json = r#"[{"key":"k1","value":"one","expiration_ttl":3600},{"key":"k2","value":"AP8=","base64":true,"metadata":{"m":1}}]"#;
        kv.put_bulk(&a.id, json, 0, Now::from_system_clock(), false).await.unwrap();
        let now = Now::from_system_clock();
        let listed = kv.list(&a.id, ListOptions::default(), now).await.unwrap();
        assert_eq!(listed.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["k1", "k2"]);
        assert!(listed.keys[0].expiration.is_some());
        let k2 = kv.get(&a.id, "k2", None, now).await.unwrap().unwrap();
        assert_eq!((k2.value, k2.metadata.as_deref()), (Bytes::from_static(&[0, 255]), Some(r#"{"m":1}"#)));
        let bad = r#"[{"key":"new","value":"v"},{"key":"","value":"v"}]"#;
        assert!(kv.put_bulk(&a.id, bad, 0, now, false).await.is_err());
        assert_eq!(kv.get(&a.id, "new", None, now).await.unwrap(), None);
        kv.delete_bulk(&a.id, r#"["k1"]"#, 0, false).await.unwrap();
        assert_eq!(kv.get(&a.id, "k1", None, now).await.unwrap(), None);

        // A namespace named like the registry's prefix, deleted, leaves the registry alone.
        kv.put("miniflare-kv", "namespaces", Bytes::from_static(b"v"), PutOptions::default(), now).await.unwrap();
        kv.delete_namespace("miniflare-kv", now).await.unwrap();
        assert_eq!(kv.namespaces().await.unwrap(), expected);

        kv.put(&b.id, "keep", Bytes::from_static(b"b"), PutOptions::default(), now).await.unwrap();
        kv.delete_namespace(&a.id, now).await.unwrap();
        assert_eq!(kv.get(&a.id, "k2", None, now).await.unwrap(), None);
        assert!(kv.list(&a.id, ListOptions::default(), now).await.unwrap().keys.is_empty());
        assert_eq!(kv.namespaces().await.unwrap(), vec![b.clone()]);
        assert!(kv.get(&b.id, "keep", None, now).await.unwrap().is_some());
        assert_eq!(kv.delete_namespace(&a.id, now).await, Err(KvError::NamespaceNotFound(a.id.clone())));
    });
}
