//! Namespace administration in Redis.
//!
//! The registry is the hash `miniflare-kv:namespaces` (field: namespace id,
//! value: title). No namespace's Redis key can be that name: a namespace's
//! keys are `<part>:value:<key>`, `<part>:meta:<key>` and `<part>:index`,
//! where `<part>` contains no `:` (it is escaped, see `namespace_part`); so a
//! key whose first `:` is followed by `namespaces` belongs to no namespace.
//! Registry changes run as Lua scripts, so "title not taken, then write" is
//! atomic across processes.
//!
//! Deleting a namespace `SCAN`s its value and meta keys (including keys that
//! Miniflare 2 wrote, which are not in the index) and deletes them, then
//! deletes its index and registry entry in one transaction. A bulk write or
//! delete is one `MULTI`/`EXEC`: all of it or none of it. On a Redis Cluster
//! the `SCAN`s visit every master, and the index and registry entry are
//! deleted one after the other (they live in different slots).

use super::super::admin::{AsyncNamespaceAdmin, NamespaceInfo};
use super::layout::{encode_record, escape_glob, namespace_of_part, redis_expiry};
use super::{cluster, Link, RedisStorage, SCAN_COUNT};
use crate::entry::Entry;
use crate::error::{KvError, Result};

const REGISTRY_KEY: &str = "miniflare-kv:namespaces";

/// KEYS: registry. ARGV: id, title. Returns "ok", "id" (taken) or "title" (taken).
const CREATE_SCRIPT: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'id' end
local all = redis.call('HGETALL', KEYS[1])
for i = 2, #all, 2 do
  if all[i] == ARGV[2] then return 'title' end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'ok'
"#;

/// KEYS: registry. ARGV: id, title. Returns "ok", "missing" or "title" (taken).
const RENAME_SCRIPT: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 'missing' end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] and all[i + 1] == ARGV[2] then return 'title' end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'ok'
"#;

impl RedisStorage {
    async fn registry_script(&self, script: &str, id: &str, title: &str) -> Result<String> {
        self.round_trip(|mut connection| async move {
            ::redis::cmd("EVAL")
                .arg(script)
                .arg(1)
                .arg(REGISTRY_KEY)
                .arg(id)
                .arg(title)
                .query_async(&mut connection)
                .await
        })
        .await
    }

    /// Every key matching `pattern`: a page of `SCAN` at a time, handed to
    /// `each_page`; on a cluster, every master's keys.
    async fn scan_keys(&self, pattern: &str, mut each_page: impl AsyncPage) -> Result<()> {
        if let Link::Cluster(connection) = &self.active().link {
            let connection = connection.clone();
            let found = self.round_trip(|_| cluster::scan_every_master(connection.clone(), pattern)).await?;
            for page in found.chunks(SCAN_COUNT) {
                each_page.page(self, page.to_vec()).await?;
            }
            return Ok(());
        }
        let mut cursor: u64 = 0;
        loop {
            let (next, found): (u64, Vec<Vec<u8>>) = self
                .round_trip(|mut connection| async move {
                    ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .query_async(&mut connection)
                        .await
                })
                .await?;
            each_page.page(self, found).await?;
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Deletes every key matching `pattern` (all of one namespace: one slot).
    async fn delete_matching(&self, pattern: &str) -> Result<()> {
        self.scan_keys(pattern, DeletePage).await
    }
}

/// What [`RedisStorage::scan_keys`] does with each page of keys.
trait AsyncPage {
    fn page(&mut self, storage: &RedisStorage, keys: Vec<Vec<u8>>) -> impl std::future::Future<Output = Result<()>>;
}

struct DeletePage;

impl AsyncPage for DeletePage {
    async fn page(&mut self, storage: &RedisStorage, keys: Vec<Vec<u8>>) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys = &keys;
        storage
            .round_trip(|mut connection| async move {
                ::redis::cmd("DEL").arg(keys).query_async::<()>(&mut connection).await
            })
            .await
    }
}

/// Collects the namespaces that `<part>:value:*` keys name.
struct NamespacesPage<'a>(&'a mut std::collections::BTreeSet<String>);

impl AsyncPage for NamespacesPage<'_> {
    async fn page(&mut self, _: &RedisStorage, keys: Vec<Vec<u8>>) -> Result<()> {
        for key in &keys {
            let Ok(key) = std::str::from_utf8(key) else { continue };
            if let Some((part, rest)) = key.split_once(':') {
                if rest.starts_with("value:") && part != "miniflare-kv" {
                    self.0.insert(namespace_of_part(part));
                }
            }
        }
        Ok(())
    }
}

impl AsyncNamespaceAdmin for RedisStorage {
    /// Every `<part>:value:*` key names its namespace (ours and Miniflare
    /// 2's): one `SCAN` of the key space, which also sees other applications'
    /// keys of that shape if the database is shared.
    async fn stored_namespaces(&self) -> Result<Vec<String>> {
        let mut found = std::collections::BTreeSet::new();
        self.scan_keys("*:value:*", NamespacesPage(&mut found)).await?;
        Ok(found.into_iter().collect())
    }

    async fn namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        let pairs: Vec<(String, String)> = self
            .round_trip(|mut connection| async move {
                ::redis::cmd("HGETALL").arg(REGISTRY_KEY).query_async(&mut connection).await
            })
            .await?;
        let mut namespaces: Vec<NamespaceInfo> =
            pairs.into_iter().map(|(id, title)| NamespaceInfo { id, title }).collect();
        namespaces.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(namespaces)
    }

    async fn create_namespace(&self, info: &NamespaceInfo) -> Result<()> {
        match self.registry_script(CREATE_SCRIPT, &info.id, &info.title).await?.as_str() {
            "ok" => Ok(()),
            "title" => Err(KvError::NamespaceTitleExists(info.title.clone())),
            _ => Err(KvError::Storage(format!("a KV namespace with the id {:?} is already registered", info.id))),
        }
    }

    async fn rename_namespace(&self, id: &str, title: &str) -> Result<()> {
        match self.registry_script(RENAME_SCRIPT, id, title).await?.as_str() {
            "ok" => Ok(()),
            "title" => Err(KvError::NamespaceTitleExists(title.to_owned())),
            _ => Err(KvError::NamespaceNotFound(id.to_owned())),
        }
    }

    async fn delete_namespace(&self, id: &str) -> Result<bool> {
        let keys = self.keys(id);
        let part = escape_glob(keys.part());
        self.delete_matching(&format!("{part}:value:*")).await?;
        self.delete_matching(&format!("{part}:meta:*")).await?;
        let index = keys.index();
        if self.is_cluster() {
            // The index and the registry are in different slots: no transaction.
            self.round_trip(|mut connection| {
                let index = &index;
                async move { ::redis::cmd("DEL").arg(index).query_async::<()>(&mut connection).await }
            })
            .await?;
            let removed: i64 = self
                .round_trip(|mut connection| async move {
                    ::redis::cmd("HDEL").arg(REGISTRY_KEY).arg(id).query_async(&mut connection).await
                })
                .await?;
            return Ok(removed == 1);
        }
        let (_, removed): (i64, i64) = self
            .round_trip(|mut connection| {
                let index = &index;
                async move {
                    let mut transaction = ::redis::pipe();
                    transaction.atomic();
                    transaction.cmd("DEL").arg(index);
                    transaction.cmd("HDEL").arg(REGISTRY_KEY).arg(id);
                    transaction.query_async(&mut connection).await
                }
            })
            .await?;
        Ok(removed == 1)
    }

    async fn put_many(&self, namespace: &str, entries: &[(String, Entry)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let keys = self.keys(namespace);
        let index = keys.index();
        self.round_trip_in(Some(&index), |mut connection| {
            let (index, keys) = (&index, &keys);
            async move {
                let mut transaction = ::redis::pipe();
                transaction.atomic();
                for (key, entry) in entries {
                    let (value_key, meta_key) = (keys.value(key), keys.meta(key));
                    // A plain SET also clears an old expiry (as in `put`).
                    transaction.cmd("SET").arg(&value_key).arg(&entry.value[..]).ignore();
                    transaction.cmd("SET").arg(&meta_key).arg(encode_record(key, entry)).ignore();
                    if let Some(at) = entry.expiration.map(redis_expiry) {
                        transaction.cmd("EXPIREAT").arg(&value_key).arg(at).ignore();
                        transaction.cmd("EXPIREAT").arg(&meta_key).arg(at).ignore();
                    }
                }
                let mut zadd = ::redis::cmd("ZADD");
                zadd.arg(index);
                for (key, _) in entries {
                    zadd.arg(0).arg(key.as_str());
                }
                transaction.add_command(zadd).ignore();
                transaction.query_async::<()>(&mut connection).await
            }
        })
        .await
    }

    async fn delete_many(&self, namespace: &str, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let space = self.keys(namespace);
        let index = space.index();
        self.round_trip_in(Some(&index), |mut connection| {
            let (index, space) = (&index, &space);
            async move {
                let mut del = ::redis::cmd("DEL");
                let mut zrem = ::redis::cmd("ZREM");
                zrem.arg(index);
                for key in keys {
                    del.arg(space.value(key)).arg(space.meta(key));
                    zrem.arg(key.as_str());
                }
                let mut transaction = ::redis::pipe();
                transaction.atomic();
                transaction.add_command(del).ignore();
                transaction.add_command(zrem).ignore();
                transaction.query_async::<()>(&mut connection).await
            }
        })
        .await
    }
}
