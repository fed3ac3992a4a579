//! Connections: which kind of link a URL gets, and the messages that name
//! the URL when Redis cannot be reached.

use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use super::cluster;
use super::wire::WireLink;
use crate::error::{KvError, Result};

/// Upper bound for one round trip, including one reconnection attempt.
pub const CALL_DEADLINE: Duration = Duration::from_millis(4500);
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub(super) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Retries inside one reconnection attempt; kept low so that a call while
/// Redis is down fails quickly, and the next call simply tries again.
const RECONNECT_RETRIES: usize = 1;

/// How commands reach Redis.
#[derive(Clone)]
pub(super) enum Link {
    /// One server, through the `redis` crate's reconnecting connection (on Tokio).
    Single(ConnectionManager),
    /// A Redis Cluster: the `redis` crate routes each command (or pipeline)
    /// to the master of its slot, following `MOVED`/`ASK` (on Tokio).
    Cluster(ClusterConnection),
    /// One server, driven by the binding's event loop (see [`super::wire`]).
    Wire(WireLink),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(connection) => connection.req_packed_command(cmd),
            Link::Cluster(connection) => connection.req_packed_command(cmd),
            Link::Wire(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Wire(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
            Link::Wire(connection) => connection.get_db(),
        }
    }
}

/// Connects to `url`: a single server, or a cluster when several seed nodes
/// are given (`redis://h1:p1,h2:p2`) or the one named answers `INFO cluster`
/// with `cluster_enabled:1`. Must run inside a Tokio runtime.
pub(super) async fn open(url: &str, display_url: &str) -> Result<Link> {
    let seeds = cluster::seed_urls(url);
    if seeds.len() > 1 {
        return cluster::open(&seeds, display_url).await;
    }
    if url.starts_with("rediss://") {
        // rustls needs a process-wide crypto provider; another part of
        // the process may have installed one already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = ::redis::Client::open(url).map_err(|e| invalid_url(display_url, &e))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_max_delay(Duration::from_millis(500));
    let attempt = async {
        let mut manager = ConnectionManager::new_with_config(client, config).await?;
        let info: String = ::redis::cmd("INFO").arg("cluster").query_async(&mut manager).await?;
        Ok::<_, RedisError>((manager, cluster::is_enabled(&info)))
    };
    match tokio::time::timeout(CALL_DEADLINE, attempt).await {
        Ok(Ok((_, true))) => cluster::open(&seeds, display_url).await,
        Ok(Ok((manager, false))) => Ok(Link::Single(manager)),
        Ok(Err(e)) => Err(unreachable_error(display_url, &describe(url, &e))),
        Err(_) => Err(unreachable_error(display_url, &no_answer())),
    }
}

pub(super) fn invalid_url(display_url: &str, e: &RedisError) -> KvError {
    KvError::Storage(format!(
        "Invalid Redis URL {display_url}: {e}. Expected redis://[user][:password@]host[:port][/db] or rediss://…"
    ))
}

pub(super) fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout()
}

/// The error, with a hint when a TLS certificate was refused.
pub(super) fn describe(url: &str, e: &RedisError) -> String {
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

pub(super) fn no_answer() -> String {
    format!("no answer within {} ms", CALL_DEADLINE.as_millis())
}

pub(super) fn unreachable_error(display_url: &str, reason: &str) -> KvError {
    KvError::Storage(format!(
        "Could not reach Redis at {display_url}: {reason}. Check that the server is running and the URL is right."
    ))
}

/// `redis://user:secret@host` → `redis://user:***@host`.
pub(super) fn redact_password(url: &str) -> String {
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
    fn passwords_are_hidden() {
        assert_eq!(redact_password("redis://:secret@host:1/0"), "redis://:***@host:1/0");
        assert_eq!(redact_password("redis://user:secret@host"), "redis://user:***@host");
        assert_eq!(redact_password("redis://user@host"), "redis://user@host");
        assert_eq!(redact_password("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact_password("redis://:pw@h1:1,h2:2"), "redis://:***@h1:1,h2:2");
    }
}
