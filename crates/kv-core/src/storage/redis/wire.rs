//! A Redis connection whose socket is driven from outside: the binding polls
//! it on the JavaScript thread's own event loop (libuv), so that a call and
//! its reply never cross threads. This module holds the protocol state only —
//! bytes waiting to be written, the replies awaited in order, the reply
//! parser — and knows nothing of sockets or event loops (sans-I/O).
//!
//! Everything in flight is pipelined: a command is appended to the outgoing
//! bytes as soon as it is issued, and replies are matched to callers in
//! order. [`WireLink`] implements the `redis` crate's `ConnectionLike`, so
//! commands and pipelines are built and their replies read exactly as on any
//! other connection.

use std::collections::VecDeque;
use std::io;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use ::redis::aio::ConnectionLike;
use ::redis::{Cmd, ConnectionAddr, Pipeline, RedisFuture, RedisResult, Value, ValueCodec};
/// For drivers, which do not depend on the `redis` crate themselves.
pub use ::redis::{ConnectionInfo, RedisError};
use bytes::BytesMut;
use tokio::sync::oneshot;
use tokio_util::codec::Decoder;

/// A reply not received within this time fails its call (and every call
/// behind it: the connection is dropped and made again on the next call).
/// Below the 5 s the API promises, with room for the driver's timer tick.
pub const WIRE_DEADLINE: Duration = Duration::from_millis(4000);
/// Connecting (TCP, then `AUTH`/`SELECT`) gives up after this.
pub const WIRE_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What runs the socket: told when there is something to do.
pub trait WireDriver: Send + Sync {
    /// Bytes are waiting in [`WireState::outgoing`], or a connection is needed
    /// ([`WireState::status`] is [`WireStatus::Disconnected`]). May be called
    /// on any thread, never with the state locked.
    fn wake(&self);
    /// The last [`WireLink`] is gone: close the socket.
    fn shut_down(&self);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireStatus {
    Disconnected,
    Connecting,
    Connected,
}

/// One call waiting for its replies: `skip` replies to read past (the
/// `MULTI`/`QUEUED` of a transaction), then `count` to hand back.
struct Awaited {
    skip: usize,
    count: usize,
    replies: Vec<Value>,
    /// A queued command of a transaction that the server refused.
    refused: Option<RedisError>,
    issued: Instant,
    done: oneshot::Sender<RedisResult<Vec<Value>>>,
}

pub struct WireState {
    outgoing: Vec<u8>,
    /// Replies are read into here and parsed from it.
    inbound: BytesMut,
    codec: ValueCodec,
    awaited: VecDeque<Awaited>,
    status: WireStatus,
}

impl WireState {
    fn new() -> WireState {
        WireState {
            outgoing: Vec::new(),
            inbound: BytesMut::new(),
            codec: ValueCodec::default(),
            awaited: VecDeque::new(),
            status: WireStatus::Disconnected,
        }
    }

    /// Queues `packed` (one or more commands) and the wait for its replies.
    fn issue(&mut self, packed: &[u8], skip: usize, count: usize) -> oneshot::Receiver<RedisResult<Vec<Value>>> {
        let (done, receiver) = oneshot::channel();
        self.outgoing.extend_from_slice(packed);
        self.awaited.push_back(Awaited {
            skip,
            count,
            replies: Vec::with_capacity(count),
            refused: None,
            issued: Instant::now(),
            done,
        });
        receiver
    }

    /// Bytes to write to the socket now.
    pub fn outgoing(&self) -> &[u8] {
        &self.outgoing
    }

    /// `written` bytes of [`Self::outgoing`] went out.
    pub fn wrote(&mut self, written: usize) {
        self.outgoing.drain(..written);
    }

    /// Bytes read from the socket: completes every call whose replies are all
    /// in. A protocol error (or a reply nobody waits for) means the stream can
    /// no longer be trusted: the caller drops the connection.
    pub fn received(&mut self, bytes: &[u8]) -> RedisResult<()> {
        self.inbound.extend_from_slice(bytes);
        while let Some(reply) = self.codec.decode(&mut self.inbound)? {
            let Some(call) = self.awaited.front_mut() else {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "a reply nobody asked for").into());
            };
            if call.skip > 0 {
                call.skip -= 1;
                if let Value::ServerError(error) = reply {
                    call.refused.get_or_insert(error.into());
                }
            } else {
                call.replies.push(reply);
            }
            if call.skip == 0 && call.replies.len() == call.count {
                let call = self.awaited.pop_front().expect("front exists");
                let result = match call.refused {
                    Some(error) => Err(error),
                    None => Ok(call.replies),
                };
                // The caller may have given up (timed out): nothing to tell.
                let _ = call.done.send(result);
            }
        }
        Ok(())
    }

    /// Fails every call in flight or queued, and forgets the connection's
    /// bytes: the driver closes the socket, and the next call connects again.
    pub fn fail_all(&mut self, error: impl Fn() -> RedisError) {
        for call in self.awaited.drain(..) {
            let _ = call.done.send(Err(error()));
        }
        self.outgoing.clear();
        self.inbound.clear();
        self.codec = ValueCodec::default();
        self.status = WireStatus::Disconnected;
    }

    /// Whether the oldest call has waited past [`WIRE_DEADLINE`].
    pub fn overdue(&self, now: Instant) -> bool {
        self.awaited.front().is_some_and(|call| now.duration_since(call.issued) > WIRE_DEADLINE)
    }

    /// How many calls wait for replies.
    pub fn waiting(&self) -> usize {
        self.awaited.len()
    }

    /// Whether any call waits for a reply (then the event loop must stay alive).
    pub fn busy(&self) -> bool {
        !self.awaited.is_empty()
    }

    pub fn status(&self) -> WireStatus {
        self.status
    }

    pub fn set_status(&mut self, status: WireStatus) {
        self.status = status;
    }
}

struct WireShared {
    state: Mutex<WireState>,
    driver: Arc<dyn WireDriver>,
    db: i64,
}

impl Drop for WireShared {
    fn drop(&mut self) {
        self.driver.shut_down();
    }
}

/// A handle on a driven connection; clones share it.
#[derive(Clone)]
pub struct WireLink {
    shared: Arc<WireShared>,
}

/// Held by the driver, so that it does not keep the connection open.
#[derive(Clone)]
pub struct WeakWireLink(Weak<WireShared>);

impl WeakWireLink {
    pub fn upgrade(&self) -> Option<WireLink> {
        self.0.upgrade().map(|shared| WireLink { shared })
    }
}

/// The error every call in flight fails with when no reply came in time.
pub fn overdue_error() -> RedisError {
    io::Error::new(io::ErrorKind::TimedOut, format!("no answer within {} ms", WIRE_DEADLINE.as_millis())).into()
}

impl WireLink {
    pub fn new(driver: Arc<dyn WireDriver>, db: i64) -> WireLink {
        WireLink { shared: Arc::new(WireShared { state: Mutex::new(WireState::new()), driver, db }) }
    }

    pub fn downgrade(&self) -> WeakWireLink {
        WeakWireLink(Arc::downgrade(&self.shared))
    }

    pub fn state(&self) -> MutexGuard<'_, WireState> {
        self.shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn send(&self, packed: &[u8], skip: usize, count: usize) -> RedisResult<Vec<Value>> {
        let reply = self.state().issue(packed, skip, count);
        self.shared.driver.wake();
        match reply.await {
            Ok(result) => result,
            // The driver went away with the call (the environment shut down).
            Err(_) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "the connection was closed").into()),
        }
    }
}

impl ConnectionLike for WireLink {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut replies = self.send(&cmd.get_packed_command(), 0, 1).await?;
            Ok(replies.pop().unwrap_or(Value::Nil))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move { self.send(&pipeline.get_packed_pipeline(), offset, count).await })
    }

    fn get_db(&self) -> i64 {
        self.shared.db
    }
}

/// Whether `info` names a server this module can drive: plain TCP (TLS and
/// Unix sockets stay on the `redis` crate's own connection).
pub fn drivable(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::Tcp(..))
}

/// Connects to `info` and authenticates and selects its database, blocking
/// (the driver calls this on a thread of its own); returns the socket ready to
/// be switched to non-blocking mode.
pub fn connect_blocking(info: &ConnectionInfo) -> RedisResult<TcpStream> {
    let ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "not a TCP address").into());
    };
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for address in (host.as_str(), *port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, WIRE_CONNECT_TIMEOUT) {
            Ok(stream) => return handshake(stream, info),
            Err(e) => last_error = e,
        }
    }
    Err(last_error.into())
}

fn handshake(mut stream: TcpStream, info: &ConnectionInfo) -> RedisResult<TcpStream> {
    stream.set_nodelay(true)?;
    let settings = info.redis_settings();
    let mut hello = ::redis::pipe();
    if let Some(password) = settings.password() {
        match settings.username() {
            Some(user) => hello.cmd("AUTH").arg(user).arg(password),
            None => hello.cmd("AUTH").arg(password),
        };
    }
    if settings.db() != 0 {
        hello.cmd("SELECT").arg(settings.db());
    }
    let expected = hello.cmd_iter().count();
    if expected == 0 {
        return Ok(stream);
    }
    stream.set_read_timeout(Some(WIRE_CONNECT_TIMEOUT))?;
    stream.write_all(&hello.get_packed_pipeline())?;
    let (mut codec, mut inbound, mut seen) = (ValueCodec::default(), BytesMut::new(), 0);
    let mut chunk = [0u8; 1024];
    while seen < expected {
        while let Some(reply) = codec.decode(&mut inbound)? {
            reply.extract_error()?;
            seen += 1;
        }
        if seen == expected {
            break;
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection").into());
        }
        inbound.extend_from_slice(&chunk[..read]);
    }
    stream.set_read_timeout(None)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct CountingDriver {
        wakes: AtomicUsize,
        shut_down: AtomicUsize,
    }
    impl WireDriver for CountingDriver {
        fn wake(&self) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
        }
        fn shut_down(&self) {
            self.shut_down.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        future.poll(&mut context)
    }

    #[test]
    fn pipelined_calls_get_their_replies_in_order_across_split_reads() {
        let driver = Arc::new(CountingDriver::default());
        let link = WireLink::new(driver.clone(), 0);
        let (mut first_link, mut second_link) = (link.clone(), link.clone());
        let get = ::redis::cmd("GET").arg("a").clone();
        let mut first = Box::pin(async move { first_link.req_packed_command(&get).await });
        let mut transaction = ::redis::pipe();
        transaction.atomic().cmd("SET").arg("a").arg("1").cmd("INCR").arg("n");
        let mut second =
            Box::pin(async move { second_link.req_packed_commands(&transaction, 3, 1).await });
        assert!(poll_once(first.as_mut()).is_pending());
        assert!(poll_once(second.as_mut()).is_pending());
        assert_eq!(driver.wakes.load(Ordering::SeqCst), 2);
        let written = link.state().outgoing().to_vec();
        assert!(written.starts_with(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$5\r\nMULTI\r\n"), "{written:?}");
        link.state().wrote(written.len());
        assert!(link.state().outgoing().is_empty());

        let replies = b"$1\r\nx\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:7\r\n";
        let (head, tail) = replies.split_at(5);
        link.state().received(head).unwrap();
        assert!(poll_once(first.as_mut()).is_pending(), "half a reply completes nothing");
        link.state().received(tail).unwrap();
        assert_eq!(poll_once(first.as_mut()), std::task::Poll::Ready(Ok(Value::BulkString(b"x".to_vec()))));
        assert_eq!(
            poll_once(second.as_mut()),
            std::task::Poll::Ready(Ok(vec![Value::Array(vec![Value::Okay, Value::Int(7)])]))
        );
        assert!(!link.state().busy());
        drop((first, second, link));
        assert_eq!(driver.shut_down.load(Ordering::SeqCst), 1, "the last handle closes the connection");
    }

    #[test]
    fn a_refused_queued_command_fails_the_transaction_and_a_stray_reply_is_an_error() {
        let link = WireLink::new(Arc::new(CountingDriver::default()), 0);
        let mut handle = link.clone();
        let mut transaction = ::redis::pipe();
        transaction.atomic().cmd("SET").arg("a").arg("1");
        let mut call = Box::pin(async move { handle.req_packed_commands(&transaction, 2, 1).await });
        assert!(poll_once(call.as_mut()).is_pending());
        link.state()
            .received(b"+OK\r\n-MOVED 15495 127.0.0.1:7002\r\n-EXECABORT Transaction discarded\r\n")
            .unwrap();
        match poll_once(call.as_mut()) {
            std::task::Poll::Ready(Err(e)) => assert!(e.to_string().contains("15495 127.0.0.1:7002"), "{e}"),
            other => panic!("expected the MOVED error, got {other:?}"),
        }
        assert!(link.state().received(b"+OK\r\n").is_err());
    }

    #[test]
    fn failing_all_rejects_every_waiting_call_and_resets_the_stream() {
        let link = WireLink::new(Arc::new(CountingDriver::default()), 0);
        let mut handle = link.clone();
        let ping = ::redis::cmd("PING");
        let mut call = Box::pin(async move { handle.req_packed_command(&ping).await });
        assert!(poll_once(call.as_mut()).is_pending());
        link.state().set_status(WireStatus::Connected);
        link.state().received(b"+PO").unwrap();
        assert!(link.state().overdue(Instant::now() + WIRE_DEADLINE + Duration::from_millis(1)));
        link.state().fail_all(overdue_error);
        match poll_once(call.as_mut()) {
            std::task::Poll::Ready(Err(e)) => {
                assert!(e.is_timeout());
                assert!(e.to_string().contains("no answer within 4000 ms"), "{e}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
        let state = link.state();
        assert_eq!(state.status(), WireStatus::Disconnected);
        assert!(state.outgoing().is_empty() && !state.busy());
    }
}
