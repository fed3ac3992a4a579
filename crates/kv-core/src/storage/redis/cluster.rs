//! Redis Cluster: seed URLs, detection, and the few operations that must
//! visit every master (a key space `SCAN`).
//!
//! Data layout: every key of a namespace carries a hash tag on the namespace
//! ([`super::layout::KeySpace`]), so a namespace lives in one slot and each
//! operation — a `MULTI` transaction, a script, an index range — goes to one
//! master. Namespaces spread over the masters by their slots. Routing,
//! `MOVED`/`ASK` and slot-map refreshes are the `redis` crate's cluster
//! client's.

use std::time::Duration;

use ::redis::aio::ConnectionLike;
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use ::redis::{ErrorKind, IntoConnectionInfo, RedisError, RedisResult, ServerErrorKind, Value};

use super::connection::{
    describe, invalid_url, no_answer, unreachable_error, Link, CALL_DEADLINE, CONNECT_TIMEOUT, RESPONSE_TIMEOUT,
};
use crate::error::Result;

/// Why a call failed while the cluster's slot map changes under it.
pub(super) const NOT_SERVING: &str =
    "the cluster is not serving this namespace's slot right now (a failover or resharding is under way; retry shortly)";

/// How long a call keeps following redirections that come back inside a
/// pipeline or `MULTI` (within [`CALL_DEADLINE`]).
pub(super) const REDIRECTION_PATIENCE: Duration = Duration::from_millis(4000);
/// The pause between tries while a namespace's slot migrates.
pub(super) const MIGRATION_POLL: Duration = Duration::from_millis(20);

/// What a cluster said when it did not run a call, directly or from inside
/// a pipeline or an aborted `MULTI` (where the `redis` crate's client does
/// not follow redirections itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hiccup {
    /// `MOVED`: the slot has a new owner; the client's slot map is stale.
    Moved,
    /// `ASK` or `TRYAGAIN`: the slot is being migrated; its keys are moving.
    Migrating,
    /// `CLUSTERDOWN` or `MASTERDOWN`: nobody serves the slot (a failover).
    Down,
}

pub(super) fn hiccup(e: &RedisError) -> Option<Hiccup> {
    let kinds: Vec<ServerErrorKind> = match e.kind() {
        ErrorKind::Server(kind) if !matches!(kind, ServerErrorKind::ExecAbort) => vec![kind],
        _ => e.clone().into_server_errors().map_or_else(Vec::new, |errors| {
            errors.iter().filter_map(|(_, error)| error.kind()).collect()
        }),
    };
    let has = |wanted: &[ServerErrorKind]| kinds.iter().any(|kind| wanted.contains(kind));
    if has(&[ServerErrorKind::ClusterDown, ServerErrorKind::MasterDown]) {
        Some(Hiccup::Down)
    } else if has(&[ServerErrorKind::Moved]) {
        Some(Hiccup::Moved)
    } else if has(&[ServerErrorKind::Ask, ServerErrorKind::TryAgain]) {
        Some(Hiccup::Migrating)
    } else {
        None
    }
}

/// `redis://[auth@]h1:p1,h2:p2[/db][#fragment]` → one URL per seed node,
/// each with the same credentials, database and fragment.
pub(super) fn seed_urls(url: &str) -> Vec<String> {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else { return vec![url.to_owned()] };
    let authority_end = url[scheme_end..].find(['/', '#', '?']).map_or(url.len(), |at| scheme_end + at);
    let authority = &url[scheme_end..authority_end];
    let (auth, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    if !hosts.contains(',') {
        return vec![url.to_owned()];
    }
    hosts
        .split(',')
        .filter(|host| !host.is_empty())
        .map(|host| format!("{}{auth}{host}{}", &url[..scheme_end], &url[authority_end..]))
        .collect()
}

/// Reads `INFO cluster`'s answer.
pub(super) fn is_enabled(info: &str) -> bool {
    info.lines().any(|line| line.trim() == "cluster_enabled:1")
}

pub(super) async fn open(seeds: &[String], display_url: &str) -> Result<Link> {
    if seeds.iter().any(|seed| seed.starts_with("rediss://")) {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut nodes = Vec::with_capacity(seeds.len());
    for seed in seeds {
        nodes.push(seed.as_str().into_connection_info().map_err(|e| invalid_url(display_url, &e))?);
    }
    let client = ClusterClientBuilder::new(nodes)
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(RESPONSE_TIMEOUT)
        // Few, short retries: during a failover a call fails within the
        // deadline naming the URL, and the next one finds the new master.
        .retries(2)
        .min_retry_wait(50)
        .max_retry_wait(400)
        .build()
        .map_err(|e| invalid_url(display_url, &e))?;
    match tokio::time::timeout(CALL_DEADLINE, client.get_async_connection()).await {
        Ok(Ok(connection)) => Ok(Link::Cluster(connection)),
        Ok(Err(e)) => Err(unreachable_error(display_url, &describe(&seeds[0], &e))),
        Err(_) => Err(unreachable_error(display_url, &no_answer())),
    }
}

/// The masters' addresses, from `CLUSTER SLOTS`.
async fn masters(connection: &mut ClusterConnection) -> RedisResult<Vec<(String, u16)>> {
    let slots = connection
        .route_command(::redis::cmd("CLUSTER").arg("SLOTS").clone(), RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
        .await?;
    let mut found = Vec::new();
    let Value::Array(ranges) = slots else { return Ok(found) };
    for range in ranges {
        let Value::Array(fields) = range else { continue };
        let Some(Value::Array(master)) = fields.get(2) else { continue };
        let (Some(Value::BulkString(host)), Some(Value::Int(port))) = (master.first(), master.get(1)) else { continue };
        let address = (String::from_utf8_lossy(host).into_owned(), *port as u16);
        if !found.contains(&address) {
            found.push(address);
        }
    }
    Ok(found)
}

/// Every key matching `pattern` on every master (one full `SCAN` each).
pub(super) async fn scan_every_master(mut connection: ClusterConnection, pattern: &str) -> RedisResult<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    for (host, port) in masters(&mut connection).await? {
        let node = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
        let mut cursor: u64 = 0;
        loop {
            let scan = ::redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000).clone();
            let reply = connection.route_command(scan, node.clone()).await?;
            let (next, found): (u64, Vec<Vec<u8>>) = ::redis::from_redis_value(reply)?;
            keys.extend(found);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    // Keep the connection type in use (and the trait in scope for callers).
    let _ = connection.get_db();
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_share_credentials_database_and_fragment() {
        assert_eq!(seed_urls("redis://127.0.0.1:7000"), vec!["redis://127.0.0.1:7000"]);
        assert_eq!(
            seed_urls("redis://:pw@h1:1,h2:2/0#insecure"),
            vec!["redis://:pw@h1:1/0#insecure", "redis://:pw@h2:2/0#insecure"]
        );
        assert_eq!(seed_urls("rediss://a:1,b:2"), vec!["rediss://a:1", "rediss://b:2"]);
    }

    #[test]
    fn cluster_info_is_read() {
        assert!(is_enabled("# Cluster\r\ncluster_enabled:1\r\n"));
        assert!(!is_enabled("# Cluster\r\ncluster_enabled:0\r\n"));
    }
}
