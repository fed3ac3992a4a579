//! The Redis backend against a real redis-server that each test starts on
//! 127.0.0.1 at a free port (never 6379), without persistence, in a temporary
//! directory, and stops.
//!
//! All tests share one Tokio runtime, as the Node addon does: a Redis
//! connection lives on the runtime it was made on.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use kv_core::storage::RedisStorage;
use kv_core::{AsyncKv, AsyncStorage, Bytes, ListOptions, ListPage, Now, PutOptions};
use redis::aio::MultiplexedConnection;

static RUNTIME: LazyLock<tokio::runtime::Runtime> =
    LazyLock::new(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap());

fn run<F: std::future::Future>(test: F) -> F::Output {
    RUNTIME.block_on(test)
}

/// A private redis-server.
struct RedisServer {
    port: u16,
    dir: PathBuf,
    /// TLS only, with a self-signed certificate.
    tls: bool,
    process: Option<Child>,
}

impl RedisServer {
    fn start() -> RedisServer {
        Self::start_with(false)
    }

    fn start_tls() -> RedisServer {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("kv-redis-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if tls {
            let made = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
                .args([
                    "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout",
                    "key.pem",
                    "-out",
                    "cert.pem",
                ])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("the TLS tests need the openssl command to make a certificate");
            assert!(made.success(), "openssl could not make a certificate");
        }
        let mut server = RedisServer { port, dir, tls, process: None };
        server.launch();
        server
    }

    /// `rediss://` URLs have no `#insecure`: tests add it where wanted.
    fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "rediss" } else { "redis" }, self.port)
    }

    fn launch(&mut self) {
        let binary = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .expect("redis-server is not installed (looked in /usr/bin and /usr/local/bin): install it with `apt-get install redis-server`");
        let port = self.port.to_string();
        let mut command = Command::new(binary);
        command.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        command.args(["--daemonize", "no", "--loglevel", "warning", "--dir"]).arg(&self.dir);
        if self.tls {
            command.args(["--port", "0", "--tls-port", &port, "--tls-auth-clients", "no"]);
            command.args([
                "--tls-cert-file",
                "cert.pem",
                "--tls-key-file",
                "key.pem",
                "--tls-ca-cert-file",
                "cert.pem",
            ]);
            command.current_dir(&self.dir);
        } else {
            command.args(["--port", &port]);
        }
        let process = command.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
        self.process = Some(process);
        for _ in 0..400 {
            let ready = if self.tls { TcpStream::connect(("127.0.0.1", self.port)).is_ok() } else { ping(self.port) };
            if ready {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not answer on 127.0.0.1:{}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// A separate connection for raw commands.
    async fn raw(&self) -> MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port != 6379 {
            return port;
        }
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 5];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG"
}

async fn raw_command<T: redis::FromRedisValue>(connection: &mut MultiplexedConnection, args: &[&str]) -> T {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command.query_async(connection).await.unwrap()
}

async fn open(server: &RedisServer) -> AsyncKv<RedisStorage> {
    AsyncKv::new(RedisStorage::connect(&server.url()).await.unwrap())
}

fn now() -> Now {
    Now::from_system_clock()
}

async fn put(kv: &AsyncKv<RedisStorage>, ns: &str, key: &str, value: &str) {
    kv.put(ns, key, Bytes::copy_from_slice(value.as_bytes()), PutOptions::default(), now()).await.unwrap();
}

async fn put_with(kv: &AsyncKv<RedisStorage>, ns: &str, key: &str, options: PutOptions, at: Now) {
    kv.put(ns, key, Bytes::from_static(b"v"), options, at).await.unwrap();
}

async fn get(kv: &AsyncKv<RedisStorage>, ns: &str, key: &str, at: Now) -> Option<String> {
    kv.get(ns, key, None, at).await.unwrap().map(|e| String::from_utf8(e.value.to_vec()).unwrap())
}

async fn list(
    kv: &AsyncKv<RedisStorage>,
    ns: &str,
    prefix: Option<&str>,
    limit: i32,
    cursor: Option<String>,
) -> ListPage {
    let options = ListOptions { prefix: prefix.map(Into::into), limit: Some(limit), cursor };
    kv.list(ns, options, now()).await.unwrap()
}

async fn list_all_at(kv: &AsyncKv<RedisStorage>, ns: &str, prefix: Option<&str>, limit: i32, at: Now) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = None;
    loop {
        let options = ListOptions { prefix: prefix.map(Into::into), limit: Some(limit), cursor };
        let page = kv.list(ns, options, at).await.unwrap();
        names.extend(page.keys.iter().map(|k| k.name.clone()));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return names,
        }
    }
}

async fn list_all(kv: &AsyncKv<RedisStorage>, ns: &str, prefix: Option<&str>, limit: i32) -> Vec<String> {
    list_all_at(kv, ns, prefix, limit, now()).await
}

/// Fails the test if `future` hangs, instead of stalling the suite. Not a
/// timing assertion: the limit is far above the backend's own deadline.
async fn without_hanging<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future).await.expect("the call hung")
}

#[test]
fn values_round_trip_in_the_miniflare2_layout() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        let mut raw = server.raw().await;
        assert_eq!(get(&kv, "NS", "k", now()).await, None);
        kv.put("NS", "k", Bytes::from_static(b"\x00\xff\x80"), PutOptions::default(), now()).await.unwrap();
        assert_eq!(&kv.get("NS", "k", None, now()).await.unwrap().unwrap().value[..], b"\x00\xff\x80");
        // Raw bytes under <namespace>:value:<key>, the record under :meta:.
        let stored: Vec<u8> = raw_command(&mut raw, &["GET", "NS:value:k"]).await;
        assert_eq!(stored, b"\x00\xff\x80");
        let record: String = raw_command(&mut raw, &["GET", "NS:meta:k"]).await;
        assert_eq!(record, r#"{"key":"k"}"#);
        put(&kv, "NS", "k", "").await;
        assert_eq!(get(&kv, "NS", "k", now()).await.as_deref(), Some(""));
        put(&kv, "other", "k", "elsewhere").await;
        kv.delete("NS", "k").await.unwrap();
        assert_eq!(get(&kv, "NS", "k", now()).await, None);
        assert_eq!(get(&kv, "other", "k", now()).await.as_deref(), Some("elsewhere"));
        kv.delete("NS", "never-existed").await.unwrap();
        // Delete removes the value, the record and the index member.
        let left: Vec<String> = raw_command(&mut raw, &["KEYS", "NS:*"]).await;
        assert_eq!(left, Vec::<String>::new());
    });
}

#[test]
fn falsy_metadata_survives_and_overwriting_clears_metadata() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        for falsy in ["0", "false", r#""""#, r#"{"b":1,"a":2}"#] {
            let options = PutOptions { metadata_json: Some(falsy.into()), ..Default::default() };
            put_with(&kv, "NS", "k", options, now()).await;
            let entry = kv.get("NS", "k", None, now()).await.unwrap().unwrap();
            assert_eq!(entry.metadata.as_deref(), Some(falsy));
            let page = list(&kv, "NS", None, 1000, None).await;
            assert_eq!(page.keys[0].metadata.as_deref(), Some(falsy));
        }
        put(&kv, "NS", "k", "no metadata").await;
        let entry = kv.get("NS", "k", None, now()).await.unwrap().unwrap();
        assert_eq!((entry.metadata, entry.expiration), (None, None));
        assert_eq!(list(&kv, "NS", None, 1000, None).await.keys[0].metadata, None);
    });
}

#[test]
fn expiry_is_a_redis_expiry_and_reads_follow_the_callers_clock() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        let mut raw = server.raw().await;
        let start = now();
        let options = PutOptions { expiration_ttl: Some(120), ..Default::default() };
        put_with(&kv, "NS", "ttl", options, start).await;
        put(&kv, "NS", "plain", "v").await;
        let expiration = start.seconds() + 120;
        for key in ["NS:value:ttl", "NS:meta:ttl"] {
            let expire_time: i64 = raw_command(&mut raw, &["EXPIRETIME", key]).await;
            assert_eq!(expire_time, expiration, "{key}");
        }
        let entry = kv.get("NS", "ttl", None, start).await.unwrap().unwrap();
        assert_eq!(entry.expiration, Some(expiration));
        let just_before = Now((expiration * 1000 - 1) as f64);
        let at = Now((expiration * 1000) as f64);
        assert_eq!(get(&kv, "NS", "ttl", just_before).await.as_deref(), Some("v"));
        assert_eq!(list_all_at(&kv, "NS", None, 1000, just_before).await, ["plain", "ttl"]);
        assert_eq!(list_all_at(&kv, "NS", None, 1, at).await, ["plain"]);
        // The list reclaimed it, although Redis has not expired it yet.
        assert_eq!(get(&kv, "NS", "ttl", start).await, None);
        let exists: i64 = raw_command(&mut raw, &["EXISTS", "NS:value:ttl", "NS:meta:ttl"]).await;
        assert_eq!(exists, 0);

        // Reclaimed by get as well.
        let options = PutOptions { expiration_ttl: Some(60), ..Default::default() };
        put_with(&kv, "NS", "ttl2", options, start).await;
        assert_eq!(get(&kv, "NS", "ttl2", Now(start.0 + 60_000.0)).await, None);
        assert_eq!(get(&kv, "NS", "ttl2", start).await, None);

        // Overwriting without an expiration removes the Redis expiry.
        let options = PutOptions { expiration_ttl: Some(60), ..Default::default() };
        put_with(&kv, "NS", "plain", options, start).await;
        put(&kv, "NS", "plain", "v").await;
        for key in ["NS:value:plain", "NS:meta:plain"] {
            let ttl: i64 = raw_command(&mut raw, &["TTL", key]).await;
            assert_eq!(ttl, -1, "{key}");
        }
    });
}

#[test]
fn a_clock_behind_the_real_one_does_not_lose_entries() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        let mut raw = server.raw().await;
        // Fake timers set a year back: the expiration is in the real past.
        let last_year = Now(now().0 - 365.0 * 86_400_000.0);
        let options = PutOptions { expiration_ttl: Some(60), ..Default::default() };
        put_with(&kv, "NS", "k", options, last_year).await;
        assert_eq!(get(&kv, "NS", "k", last_year).await.as_deref(), Some("v"));
        assert_eq!(list_all_at(&kv, "NS", None, 1000, last_year).await, ["k"]);
        let ttl: i64 = raw_command(&mut raw, &["TTL", "NS:value:k"]).await;
        assert!(ttl > 3600, "Redis keeps it well beyond the test: {ttl}");
        assert_eq!(get(&kv, "NS", "k", Now(last_year.0 + 60_000.0)).await, None);
    });
}

#[test]
fn list_orders_by_utf8_bytes_and_pages() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        let expected = [
            "\u{0}x", "B", "a", "a b", "a/b", "aa", "b", "e\u{301}", "z", "~", "\u{7f}", "\u{80}", "é", "\u{d7ff}",
            "\u{e000}", "\u{ffff}", "😀",
        ];
        for key in expected.iter().rev() {
            put(&kv, "NS", key, key).await;
        }
        assert_eq!(list_all(&kv, "NS", None, 1000).await, expected);
        assert_eq!(list_all(&kv, "NS", None, 3).await, expected);
        assert_eq!(list_all(&kv, "NS", Some("a"), 1).await, ["a", "a b", "a/b", "aa"]);
        assert_eq!(list_all(&kv, "NS", Some("\u{ffff}"), 1).await, ["\u{ffff}"]);
        let page = list(&kv, "NS", None, 17, None).await;
        assert!(page.list_complete(), "no trailing empty page");
    });
}

#[test]
fn paging_with_cursors_while_deleting() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        for i in 0..2500 {
            put(&kv, "NS", &format!("item{i:05}"), "v").await;
        }
        put(&kv, "NS", "iten", "outside the prefix").await;
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = list(&kv, "NS", Some("item"), 1000, cursor).await;
            seen.extend(page.keys.iter().map(|k| k.name.clone()));
            // Delete the cursor key itself and the key after it.
            if let Some(last) = page.keys.last() {
                let last_index: usize = last.name["item".len()..].parse().unwrap();
                kv.delete("NS", &last.name).await.unwrap();
                kv.delete("NS", &format!("item{:05}", last_index + 1)).await.unwrap();
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let expected: Vec<String> =
            (0..2500).filter(|i| *i != 1000 && *i != 2001).map(|i| format!("item{i:05}")).collect();
        assert_eq!(seen, expected);
    });
}

#[test]
fn glob_characters_are_literal_in_prefixes_and_namespaces() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        let mut raw = server.raw().await;
        let keys = ["*", "?", "[abc]", "[abc]x", "\\", "a", "a\\b", "ax", "b"];
        for key in keys {
            put(&kv, "n[s]*?\\", key, key).await;
        }
        assert_eq!(list_all(&kv, "n[s]*?\\", Some("[abc]"), 1000).await, ["[abc]", "[abc]x"]);
        assert_eq!(list_all(&kv, "n[s]*?\\", Some("*"), 1000).await, ["*"]);
        assert_eq!(list_all(&kv, "n[s]*?\\", Some("?"), 1000).await, ["?"]);
        assert_eq!(list_all(&kv, "n[s]*?\\", Some("\\"), 1000).await, ["\\"]);
        assert_eq!(list_all(&kv, "n[s]*?\\", Some("a\\"), 1000).await, ["a\\b"]);
        assert_eq!(list_all(&kv, "n[s]*?\\", None, 2).await, keys);

        // Building the index for Miniflare 2 data: the unescaped pattern
        // `n[s]:value:*` would also match namespace "ns".
        for (key, value) in [("n[s]:value:mine", "1"), ("ns:value:decoy", "2"), ("n[s]x:value:decoy", "3")] {
            let _: () = raw_command(&mut raw, &["SET", key, value]).await;
        }
        assert_eq!(list_all(&kv, "n[s]", None, 1000).await, ["mine"]);
        assert_eq!(list_all(&kv, "ns", None, 1000).await, ["decoy"]);
    });
}

#[test]
fn miniflare2_data_is_read_including_list() {
    run(async {
        let server = RedisServer::start();
        let mut raw = server.raw().await;
        // What Miniflare 2 writes: raw values, JSON.stringify(metadata) only
        // when truthy, expiry only as PX, no index.
        let in_an_hour = now().seconds() + 3600;
        let px = (in_an_hour * 1000 - now().0 as i64).to_string();
        let _: () = raw_command(&mut raw, &["SET", "NS:value:plain", "1"]).await;
        let _: () = raw_command(&mut raw, &["SET", "NS:value:meta", "2"]).await;
        let _: () = raw_command(&mut raw, &["SET", "NS:meta:meta", r#"{"a":1}"#]).await;
        let _: () = raw_command(&mut raw, &["SET", "NS:value:both", "3", "PX", &px]).await;
        let _: () = raw_command(&mut raw, &["SET", "NS:meta:both", r#""text""#, "PX", &px]).await;
        let _: () = raw_command(&mut raw, &["SET", "NS:value:ttl", "4", "PX", &px]).await;
        // Metadata that looks like a record, but for another key name.
        let _: () = raw_command(&mut raw, &["SET", "NS:value:lookalike", "5"]).await;
        let _: () = raw_command(&mut raw, &["SET", "NS:meta:lookalike", r#"{"key":"x","metadata":1}"#]).await;
        let _: () = raw_command(&mut raw, &["SET", "OTHER:value:elsewhere", "6"]).await;

        let kv = open(&server).await;
        let read = |key: &'static str| {
            let kv = &kv;
            async move {
                let entry = kv.get("NS", key, None, now()).await.unwrap().unwrap();
                (
                    String::from_utf8(entry.value.to_vec()).unwrap(),
                    entry.metadata.as_deref().map(str::to_owned),
                    entry.expiration,
                )
            }
        };
        assert_eq!(read("plain").await, ("1".into(), None, None));
        assert_eq!(read("meta").await, ("2".into(), Some(r#"{"a":1}"#.into()), None));
        assert_eq!(read("both").await, ("3".into(), Some(r#""text""#.into()), Some(in_an_hour)));
        assert_eq!(read("ttl").await, ("4".into(), None, Some(in_an_hour)));
        assert_eq!(read("lookalike").await, ("5".into(), Some(r#"{"key":"x","metadata":1}"#.into()), None));
        // The caller's clock decides visibility here too.
        assert_eq!(get(&kv, "NS", "ttl", Now((in_an_hour * 1000) as f64)).await, None);

        let page = list(&kv, "NS", None, 1000, None).await;
        let listed: Vec<_> = page.keys.iter().map(|k| (k.name.as_str(), k.metadata.as_deref(), k.expiration)).collect();
        assert_eq!(
            listed,
            [
                ("both", Some(r#""text""#), Some(in_an_hour)),
                ("lookalike", Some(r#"{"key":"x","metadata":1}"#), None),
                ("meta", Some(r#"{"a":1}"#), None),
                ("plain", None, None),
                ("ttl", None, Some(in_an_hour)),
            ]
        );
        assert_eq!(list_all(&kv, "NS", None, 1).await, ["both", "lookalike", "meta", "plain", "ttl"]);
        // The index is now built and kept up to date by our writes.
        let marker: Option<String> = raw_command(&mut raw, &["ZSCORE", "NS:index", ""]).await;
        assert!(marker.is_some());
        put(&kv, "NS", "new", "7").await;
        kv.delete("NS", "plain").await.unwrap();
        assert_eq!(list_all(&kv, "NS", None, 2).await, ["both", "lookalike", "meta", "new", "ttl"]);
        assert_eq!(list_all(&kv, "OTHER", None, 1000).await, ["elsewhere"]);
    });
}

#[test]
fn concurrent_first_lists_of_miniflare2_data_all_see_every_key() {
    run(async {
        let server = RedisServer::start();
        let mut raw = server.raw().await;
        for i in 0..300 {
            let _: () = raw_command(&mut raw, &["SET", &format!("NS:value:k{i:03}"), "v"]).await;
        }
        let kv = std::sync::Arc::new(open(&server).await);
        let lists: Vec<_> = (0..8)
            .map(|_| {
                let kv = kv.clone();
                tokio::spawn(async move { list_all(&kv, "NS", None, 1000).await })
            })
            .collect();
        for list in lists {
            assert_eq!(list.await.unwrap(), (0..300).map(|i| format!("k{i:03}")).collect::<Vec<_>>());
        }
    });
}

#[test]
fn list_drops_keys_that_redis_expired_or_that_vanished() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        let mut raw = server.raw().await;
        for key in ["a", "b", "c", "d"] {
            put(&kv, "NS", key, "v").await;
        }
        // "b" expires in Redis; "c" is deleted behind our back.
        let _: () = raw_command(&mut raw, &["PEXPIRE", "NS:value:b", "1"]).await;
        let _: () = raw_command(&mut raw, &["PEXPIRE", "NS:meta:b", "1"]).await;
        let _: () = raw_command(&mut raw, &["DEL", "NS:value:c", "NS:meta:c"]).await;
        while raw_command::<i64>(&mut raw, &["EXISTS", "NS:value:b"]).await == 1 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let page = list(&kv, "NS", None, 2, None).await;
        assert_eq!(page.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["a", "d"]);
        assert!(page.list_complete());
        let index: Vec<String> = raw_command(&mut raw, &["ZRANGE", "NS:index", "0", "-1"]).await;
        assert_eq!(index, ["", "a", "d"]);
    });
}

#[test]
fn a_lost_index_is_rebuilt() {
    run(async {
        let server = RedisServer::start();
        let kv = open(&server).await;
        let mut raw = server.raw().await;
        for i in 0..2100 {
            put(&kv, "NS", &format!("k{i:04}"), "v").await;
        }
        let _: () = raw_command(&mut raw, &["DEL", "NS:index"]).await;
        let listed = list_all(&kv, "NS", None, 1000).await;
        assert_eq!(listed, (0..2100).map(|i| format!("k{i:04}")).collect::<Vec<_>>());
    });
}

#[test]
fn sixty_four_concurrent_operations() {
    run(async {
        let server = RedisServer::start();
        let kv = std::sync::Arc::new(open(&server).await);
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let kv = kv.clone();
                tokio::spawn(async move {
                    let key = format!("key{i:02}");
                    let options = PutOptions { metadata_json: Some(format!("{i}")), ..Default::default() };
                    kv.put("NS", &key, Bytes::from(format!("value {i}")), options, now()).await.unwrap();
                    let entry = kv.get("NS", &key, None, now()).await.unwrap().unwrap();
                    assert_eq!(entry.value, format!("value {i}").as_bytes());
                    assert_eq!(entry.metadata.as_deref(), Some(format!("{i}").as_str()));
                    kv.list("NS", ListOptions::default(), now()).await.unwrap().keys.len()
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap() >= 1);
        }
        let names = list_all(&kv, "NS", None, 10).await;
        assert_eq!(names, (0..64).map(|i| format!("key{i:02}")).collect::<Vec<_>>());
    });
}

#[test]
fn redis_down_gives_a_clear_error_and_recovery_needs_nothing() {
    run(async {
        let mut server = RedisServer::start();
        let kv = open(&server).await;
        put(&kv, "NS", "k", "before").await;
        server.stop();
        let expected = format!("Could not reach Redis at {}: ", server.url());
        let started = Instant::now();
        let failures = [
            without_hanging(kv.get("NS", "k", None, now())).await.map(|_| ()),
            without_hanging(kv.put("NS", "k", Bytes::new(), PutOptions::default(), now())).await,
            without_hanging(kv.delete("NS", "k")).await,
            without_hanging(kv.list("NS", ListOptions::default(), now())).await.map(|_| ()),
        ];
        for failure in failures {
            let message = failure.unwrap_err().to_string();
            assert!(message.starts_with(&expected), "{message}");
        }
        eprintln!("4 calls failed in {:?} while Redis was down", started.elapsed());
        // A new connect while it is down fails the same way.
        let message =
            without_hanging(RedisStorage::connect(&format!("{}/0", server.url()))).await.err().unwrap().to_string();
        assert!(message.starts_with(&format!("Could not reach Redis at {}/0: ", server.url())), "{message}");

        // Same port, empty server (no persistence): the same object works.
        server.restart();
        assert_eq!(get(&kv, "NS", "k", now()).await, None);
        put(&kv, "NS", "k", "after").await;
        assert_eq!(get(&kv, "NS", "k", now()).await.as_deref(), Some("after"));
        assert_eq!(list_all(&kv, "NS", None, 1000).await, ["k"]);
    });
}

#[test]
fn rediss_connects_with_tls() {
    run(async {
        let server = RedisServer::start_tls();
        let insecure_url = format!("{}/#insecure", server.url());
        let kv = AsyncKv::new(RedisStorage::connect(&insecure_url).await.unwrap());
        put(&kv, "NS", "k", "over TLS").await;
        assert_eq!(get(&kv, "NS", "k", now()).await.as_deref(), Some("over TLS"));
        assert_eq!(list_all(&kv, "NS", None, 1000).await, ["k"]);
    });
}

#[test]
fn rediss_refuses_an_untrusted_certificate_clearly() {
    run(async {
        let server = RedisServer::start_tls();
        let message = without_hanging(RedisStorage::connect(&server.url())).await.err().unwrap().to_string();
        assert!(message.starts_with(&format!("Could not reach Redis at {}: ", server.url())), "{message}");
        assert!(message.contains("append #insecure to the URL"), "{message}");
    });
}

#[test]
fn invalid_urls_get_clear_errors_without_passwords() {
    run(async {
        let message = RedisStorage::connect("redis://:secret@127.0.0.1:notaport").await.err().unwrap().to_string();
        assert!(message.starts_with("Invalid Redis URL redis://:***@127.0.0.1:notaport: "), "{message}");
        let message = RedisStorage::connect("redis://127.0.0.1:notaport").await.err().unwrap().to_string();
        assert!(message.starts_with("Invalid Redis URL redis://127.0.0.1:notaport: "), "{message}");
    });
}

#[test]
fn one_connection_per_url_closed_with_its_last_user() {
    run(async {
        let server = RedisServer::start();
        let mut raw = server.raw().await;
        let clients = |raw: &mut MultiplexedConnection| {
            let mut raw = raw.clone();
            async move {
                let list: String = raw_command(&mut raw, &["CLIENT", "LIST"]).await;
                list.lines().count()
            }
        };
        assert_eq!(clients(&mut raw).await, 1);
        let first = open(&server).await;
        let second = open(&server).await;
        put(&first, "NS", "k", "shared").await;
        assert_eq!(get(&second, "NS", "k", now()).await.as_deref(), Some("shared"));
        assert_eq!(clients(&mut raw).await, 2, "both share one connection");
        assert_eq!(first.storage().location(), server.url());
        drop(first);
        assert_eq!(get(&second, "NS", "k", now()).await.as_deref(), Some("shared"));
        drop(second);
        // The server notices the closed socket shortly after.
        without_hanging(async {
            while clients(&mut raw).await != 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        // A new user reconnects.
        let third = open(&server).await;
        assert_eq!(get(&third, "NS", "k", now()).await.as_deref(), Some("shared"));
    });
}
