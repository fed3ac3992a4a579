//! Redis on the JavaScript thread's own event loop: a libuv driver for
//! kv-core's sans-I/O wire connection, and a small executor that runs the
//! core's futures on the JavaScript thread.
//!
//! A call writes its command to the socket before returning its promise; the
//! socket is polled with `uv_poll` on the loop Node already runs; when it is
//! readable the replies are parsed, the waiting futures are polled and their
//! promises settled — no thread hop either way (the Tokio path costs two
//! cross-thread wake-ups per call). Everything in flight is pipelined.
//!
//! Threads appear only where blocking cannot be avoided or a caller is
//! elsewhere: connecting (TCP connect, `AUTH`/`SELECT`) runs on a short-lived
//! thread, and a future woken off the loop thread (a snapshot running on
//! Tokio, say) is handed over with `uv_async_send`.
//!
//! The libuv functions are declared here: Node exports them, and on Linux
//! and macOS an addon's undefined symbols resolve against the node binary at
//! load time.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::ffi::{c_int, c_void};
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Instant;

use kv_core::storage::redis::wire::{self, ConnectionInfo, RedisError, WeakWireLink, WireDriver, WireLink, WireStatus};
use kv_core::storage::RedisStorage;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{sys, Env, Error, Status};

type UvLoop = c_void;
type UvHandle = c_void;
type PollCallback = unsafe extern "C" fn(*mut UvHandle, c_int, c_int);
type HandleCallback = unsafe extern "C" fn(*mut UvHandle);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init_socket(event_loop: *mut UvLoop, handle: *mut UvHandle, socket: c_int) -> c_int;
    fn uv_poll_start(handle: *mut UvHandle, events: c_int, callback: PollCallback) -> c_int;
    fn uv_poll_stop(handle: *mut UvHandle) -> c_int;
    fn uv_timer_init(event_loop: *mut UvLoop, handle: *mut UvHandle) -> c_int;
    fn uv_timer_start(handle: *mut UvHandle, callback: HandleCallback, timeout: u64, repeat: u64) -> c_int;
    fn uv_timer_stop(handle: *mut UvHandle) -> c_int;
    fn uv_prepare_init(event_loop: *mut UvLoop, handle: *mut UvHandle) -> c_int;
    fn uv_prepare_start(handle: *mut UvHandle, callback: HandleCallback) -> c_int;
    fn uv_prepare_stop(handle: *mut UvHandle) -> c_int;
    fn uv_async_init(event_loop: *mut UvLoop, handle: *mut UvHandle, callback: HandleCallback) -> c_int;
    fn uv_async_send(handle: *mut UvHandle) -> c_int;
    fn uv_close(handle: *mut UvHandle, callback: Option<HandleCallback>);
    fn uv_ref(handle: *mut UvHandle);
    fn uv_unref(handle: *mut UvHandle);
    fn calloc(count: usize, size: usize) -> *mut c_void;
    fn free(pointer: *mut c_void);
}

// uv_handle_type values (uv.h).
const UV_ASYNC: c_int = 1;
const UV_POLL: c_int = 8;
const UV_PREPARE: c_int = 9;
const UV_TIMER: c_int = 13;
const UV_READABLE: c_int = 1;
const UV_WRITABLE: c_int = 2;
/// How often the deadline of the oldest call is checked while calls wait.
const DEADLINE_TICK_MS: u64 = 100;
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// A zeroed libuv handle of `kind` whose `data` (its first field) is `data`.
unsafe fn new_handle(kind: c_int, data: *mut c_void) -> *mut UvHandle {
    let handle = calloc(1, uv_handle_size(kind));
    assert!(!handle.is_null(), "out of memory");
    *(handle as *mut *mut c_void) = data;
    handle
}

unsafe fn handle_data<T>(handle: *mut UvHandle) -> *mut T {
    *(handle as *mut *mut c_void) as *mut T
}

unsafe extern "C" fn free_handle(handle: *mut UvHandle) {
    free(handle);
}

/// An async handle that other threads may signal until it is closed.
struct Signal {
    handle: Mutex<Option<usize>>,
}

impl Signal {
    fn send(&self) {
        if let Some(handle) = *self.handle.lock().unwrap_or_else(|p| p.into_inner()) {
            unsafe { uv_async_send(handle as *mut UvHandle) };
        }
    }

    /// Closes the handle (loop thread only); later sends do nothing.
    unsafe fn close(&self) {
        if let Some(handle) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take() {
            uv_close(handle as *mut UvHandle, Some(free_handle));
        }
    }
}

// ---------------------------------------------------------------------------
// The executor: futures polled on the loop thread, promises settled there.

/// Settles a promise; runs on the loop thread, inside a handle scope.
type Settle = Box<dyn FnOnce(sys::napi_env) + Send>;

struct Task {
    future: Mutex<Option<Pin<Box<dyn Future<Output = Settle> + Send>>>>,
    queued: AtomicBool,
    remote: Arc<RemoteWakes>,
}

/// Tasks woken on other threads, waiting to be polled on the loop thread.
struct RemoteWakes {
    tasks: Mutex<Vec<Arc<Task>>>,
    signal: Signal,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // On the task's own loop thread (its context is this thread's; a
        // thread-local read, cheaper than comparing thread ids).
        let queued_locally = LOOP.with(|context| match context.borrow().as_ref() {
            Some(context) if Arc::ptr_eq(&context.remote, &self.remote) => {
                context.ready.borrow_mut().push_back(self.clone());
                if !context.draining.get() && !context.will_drain.get() {
                    context.remote.signal.send(); // drained on the next loop turn
                }
                true
            }
            _ => false,
        });
        if queued_locally {
            return;
        }
        let remote = self.remote.clone();
        remote.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(self);
        remote.signal.send();
    }
}

/// Per JavaScript thread (one environment, one libuv loop).
struct LoopContext {
    env: sys::napi_env,
    event_loop: *mut UvLoop,
    ready: RefCell<VecDeque<Arc<Task>>>,
    draining: Cell<bool>,
    /// Inside our callback or call, which drains before it returns.
    will_drain: Cell<bool>,
    remote: Arc<RemoteWakes>,
    /// For `napi_open_callback_scope`: closing that scope runs the
    /// microtasks that settling promises queued.
    async_context: sys::napi_async_context,
    resource: sys::napi_ref,
    /// URL → this loop's connection to it, while any store uses it.
    connections: RefCell<HashMap<String, WeakWireLink>>,
    /// Every connection whose handles are open, to close at teardown.
    open_connections: RefCell<Vec<*mut UvConnection>>,
}

thread_local! {
    static LOOP: RefCell<Option<Rc<LoopContext>>> = const { RefCell::new(None) };
}

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::GenericFailure, format!("{what} failed (napi status {status})")))
    }
}

fn loop_context(env: sys::napi_env) -> napi::Result<Rc<LoopContext>> {
    if let Some(context) = LOOP.with(|context| context.borrow().clone()) {
        return Ok(context);
    }
    unsafe {
        let mut event_loop = std::ptr::null_mut();
        check(sys::napi_get_uv_event_loop(env, &mut event_loop), "napi_get_uv_event_loop")?;
        let event_loop = event_loop as *mut UvLoop;
        let mut resource = std::ptr::null_mut();
        check(sys::napi_create_object(env, &mut resource), "napi_create_object")?;
        let mut name = std::ptr::null_mut();
        check(
            sys::napi_create_string_utf8(env, c"miniflare-kv:redis".as_ptr(), 18, &mut name),
            "napi_create_string_utf8",
        )?;
        let mut async_context = std::ptr::null_mut();
        check(sys::napi_async_init(env, resource, name, &mut async_context), "napi_async_init")?;
        let mut resource_ref = std::ptr::null_mut();
        check(sys::napi_create_reference(env, resource, 1, &mut resource_ref), "napi_create_reference")?;

        let signal = new_handle(UV_ASYNC, std::ptr::null_mut());
        if uv_async_init(event_loop, signal, on_remote_wake) != 0 {
            free(signal);
            return Err(Error::new(Status::GenericFailure, "uv_async_init failed"));
        }
        uv_unref(signal);
        let context = Rc::new(LoopContext {
            env,
            event_loop,
            ready: RefCell::new(VecDeque::new()),
            draining: Cell::new(false),
            will_drain: Cell::new(false),
            remote: Arc::new(RemoteWakes {
                tasks: Mutex::new(Vec::new()),
                signal: Signal { handle: Mutex::new(Some(signal as usize)) },
            }),
            async_context,
            resource: resource_ref,
            connections: RefCell::new(HashMap::new()),
            open_connections: RefCell::new(Vec::new()),
        });
        // A worker thread's environment ends before the thread: close our
        // handles then, so its loop can close.
        check(sys::napi_add_env_cleanup_hook(env, Some(on_env_cleanup), std::ptr::null_mut()), "cleanup hook")?;
        LOOP.with(|slot| *slot.borrow_mut() = Some(context.clone()));
        Ok(context)
    }
}

unsafe extern "C" fn on_env_cleanup(_: *mut c_void) {
    let Some(context) = LOOP.with(|slot| slot.borrow_mut().take()) else { return };
    let links: Vec<WireLink> = context.connections.borrow().values().filter_map(WeakWireLink::upgrade).collect();
    for link in links {
        link.state().fail_all(|| io::Error::new(io::ErrorKind::ConnectionAborted, "Node is shutting down").into());
    }
    let open: Vec<*mut UvConnection> = context.open_connections.borrow().clone();
    for connection in open {
        UvConnection::close(connection);
    }
    context.remote.signal.close();
    // Tasks still queued hold futures that may own connections: drop them
    // here, on the loop thread.
    context.ready.borrow_mut().clear();
    context.remote.tasks.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

unsafe extern "C" fn on_remote_wake(_: *mut UvHandle) {
    in_callback_scope(|_| {});
}

/// Runs `work` the way Node runs its own callbacks (handle scope, callback
/// scope: microtasks run when it closes), then polls the woken tasks.
fn in_callback_scope(work: impl FnOnce(&LoopContext)) {
    let Some(context) = LOOP.with(|slot| slot.borrow().clone()) else { return };
    let env = context.env;
    unsafe {
        let mut handle_scope = std::ptr::null_mut();
        if sys::napi_open_handle_scope(env, &mut handle_scope) != sys::Status::napi_ok {
            return;
        }
        let mut resource = std::ptr::null_mut();
        sys::napi_get_reference_value(env, context.resource, &mut resource);
        let mut callback_scope = std::ptr::null_mut();
        let scoped =
            sys::napi_open_callback_scope(env, resource, context.async_context, &mut callback_scope) == sys::Status::napi_ok;
        let outer = context.will_drain.replace(true);
        work(&context);
        drain(&context);
        context.will_drain.set(outer);
        if scoped {
            sys::napi_close_callback_scope(env, callback_scope);
        }
        sys::napi_close_handle_scope(env, handle_scope);
    }
}

/// Polls every woken task; settles the promises of those that finished.
fn drain(context: &LoopContext) {
    if context.draining.replace(true) {
        return;
    }
    loop {
        let next = context.ready.borrow_mut().pop_front();
        let task = match next {
            Some(task) => task,
            None => {
                let mut remote = context.remote.tasks.lock().unwrap_or_else(|p| p.into_inner());
                if remote.is_empty() {
                    break;
                }
                context.ready.borrow_mut().extend(remote.drain(..));
                continue;
            }
        };
        poll_task(context, task);
    }
    context.draining.set(false);
}

fn poll_task(context: &LoopContext, task: Arc<Task>) {
    task.queued.store(false, Ordering::Release);
    let waker = Waker::from(task.clone());
    let mut slot = task.future.lock().unwrap_or_else(|p| p.into_inner());
    let Some(future) = slot.as_mut() else { return };
    // A panic must not unwind into libuv: it becomes the call's rejection.
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        future.as_mut().poll(&mut Context::from_waker(&waker))
    }));
    let settle: Settle = match polled {
        Ok(Poll::Pending) => return,
        Ok(Poll::Ready(settle)) => settle,
        Err(_) => Box::new(|env| unsafe { reject_with(env, None, internal_error()) }),
    };
    let future = slot.take();
    drop(slot);
    drop(future); // on this thread, before settling
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| settle(context.env)));
}

fn internal_error() -> Error {
    Error::new(Status::GenericFailure, "miniflare-kv: internal error in the Redis connection (a bug: please report it)")
}

/// A raw deferred, to settle on the loop thread.
struct Deferred(sys::napi_deferred);
// Only ever used on the loop thread that created it.
unsafe impl Send for Deferred {}

unsafe fn reject_with(env: sys::napi_env, deferred: Option<&Deferred>, error: Error) {
    let Some(deferred) = deferred else { return };
    if let Ok(value) = ToNapiValue::to_napi_value(env, error) {
        sys::napi_reject_deferred(env, deferred.0, value);
    }
}

/// Runs `future` on this thread's event loop; the promise settles with its
/// result. The first poll happens now, so the command is written before this
/// returns.
fn spawn_on_loop<T, F>(env: &Env, future: F) -> napi::Result<PromiseRaw<'_, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = napi::Result<T>> + Send + 'static,
{
    let raw_env = env.raw();
    let context = loop_context(raw_env)?;
    let (mut deferred, mut promise) = (std::ptr::null_mut(), std::ptr::null_mut());
    check(unsafe { sys::napi_create_promise(raw_env, &mut deferred, &mut promise) }, "napi_create_promise")?;
    let deferred = Deferred(deferred);
    let settling = async move {
        let result = future.await;
        Box::new(move |env: sys::napi_env| unsafe {
            let deferred = deferred;
            match result.and_then(|value| ToNapiValue::to_napi_value(env, value)) {
                Ok(value) => {
                    sys::napi_resolve_deferred(env, deferred.0, value);
                }
                Err(error) => reject_with(env, Some(&deferred), error),
            }
        }) as Settle
    };
    let task = Arc::new(Task {
        future: Mutex::new(Some(Box::pin(settling))),
        queued: AtomicBool::new(false),
        remote: context.remote.clone(),
    });
    // Inside a JavaScript call already: no callback scope needed.
    let nested = context.draining.get();
    let outer = context.will_drain.replace(true);
    poll_task(&context, task);
    if !nested {
        drain(&context);
    }
    context.will_drain.set(outer);
    Ok(PromiseRaw::new(raw_env, promise))
}

/// Runs a Redis call: on this thread's loop when the store has a wire link
/// (see [`attach`]), else on napi's Tokio runtime.
pub(crate) fn run<'env, T, F>(
    env: &'env Env,
    storage: &RedisStorage,
    future: F,
) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = napi::Result<T>> + Send + 'static,
{
    if storage.wire_attached() {
        return spawn_on_loop(env, future);
    }
    let promise = napi::bindgen_prelude::execute_tokio_future(env.raw(), future, |env, value| unsafe {
        ToNapiValue::to_napi_value(env, value)
    })?;
    Ok(PromiseRaw::new(env.raw(), promise))
}

/// Settles a call that failed before reaching Redis (a disposed store), as
/// the async functions did: a rejected promise.
pub(crate) fn rejected<T: ToNapiValue + Send + 'static>(env: &Env, error: Error) -> napi::Result<PromiseRaw<'_, T>> {
    spawn_on_loop(env, async move { Err::<T, _>(error) })
}

// ---------------------------------------------------------------------------
// The connection driver.

/// Gives `storage` this thread's wire connection to its server, when it is
/// one plain-TCP server (TLS and clusters stay on Tokio). Cheap once done.
pub(crate) fn attach(env: &Env, storage: &RedisStorage) -> napi::Result<()> {
    if storage.wire_attached() {
        return Ok(());
    }
    let Some(info) = storage.wire_target() else { return Ok(()) };
    let context = loop_context(env.raw())?;
    let existing = context.connections.borrow().get(storage.url()).and_then(WeakWireLink::upgrade);
    let link = match existing {
        Some(link) => link,
        None => {
            let link = UvConnection::open(&context, info)?;
            let mut connections = context.connections.borrow_mut();
            connections.retain(|_, link| link.upgrade().is_some());
            connections.insert(storage.url().to_owned(), link.downgrade());
            link
        }
    };
    storage.attach_wire(link);
    Ok(())
}

/// One connection's libuv side; lives on the loop thread until its handles
/// are closed.
struct UvConnection {
    event_loop: *mut UvLoop,
    link: Option<WeakWireLink>,
    info: ConnectionInfo,
    stream: Option<TcpStream>,
    /// The `uv_poll_t` of `stream`, with the events it watches.
    poll: *mut UvHandle,
    watching: c_int,
    timer: *mut UvHandle,
    timer_running: bool,
    /// Writes the commands issued while others were in flight in one go,
    /// just before the loop next waits for I/O (all of one JavaScript turn).
    batch_write: *mut UvHandle,
    batch_pending: bool,
    /// Connection results, wake-ups from other threads, the shutdown.
    signal: Arc<Signal>,
    connected: Arc<Mutex<Option<Result<TcpStream, (io::ErrorKind, String)>>>>,
    shutting_down: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
    /// Replies are read into this (allocated once: zeroing 64 KiB on the
    /// stack for every read cost a microsecond per call).
    read_buffer: Box<[u8]>,
    /// Handles still open; the struct is freed when the last one closes.
    open_handles: usize,
    referenced: bool,
}

/// What kv-core's [`WireLink`] calls; the pointer is only followed on the
/// loop thread.
struct UvDriver {
    connection: *mut UvConnection,
    /// The loop the connection's handles belong to (compared, never followed, off it).
    event_loop: *mut UvLoop,
    signal: Arc<Signal>,
    shutting_down: Arc<AtomicBool>,
    /// Set when the handles start closing: the pointer is not followed after.
    closed: Arc<AtomicBool>,
}

/// Whether this thread runs `event_loop` (the one whose context it holds).
fn on_loop_thread(event_loop: *mut UvLoop) -> bool {
    LOOP.with(|context| context.borrow().as_ref().is_some_and(|context| context.event_loop == event_loop))
}

unsafe impl Send for UvDriver {}
unsafe impl Sync for UvDriver {}

impl WireDriver for UvDriver {
    fn wake(&self) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        if on_loop_thread(self.event_loop) {
            unsafe { (*self.connection).issued() };
        } else {
            self.signal.send();
        }
    }

    fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::Release);
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        if on_loop_thread(self.event_loop) {
            unsafe { UvConnection::close(self.connection) };
        } else {
            self.signal.send();
        }
    }
}

impl UvConnection {
    fn open(context: &LoopContext, info: ConnectionInfo) -> napi::Result<WireLink> {
        let db = info.redis_settings().db();
        let connection = Box::into_raw(Box::new(UvConnection {
            event_loop: context.event_loop,
            link: None,
            info,
            stream: None,
            poll: std::ptr::null_mut(),
            watching: 0,
            timer: std::ptr::null_mut(),
            timer_running: false,
            batch_write: std::ptr::null_mut(),
            batch_pending: false,
            signal: Arc::new(Signal { handle: Mutex::new(None) }),
            connected: Arc::default(),
            shutting_down: Arc::default(),
            closed: Arc::default(),
            read_buffer: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            open_handles: 0,
            referenced: true,
        }));
        unsafe {
            let this = &mut *connection;
            let timer = new_handle(UV_TIMER, connection.cast());
            let signal = new_handle(UV_ASYNC, connection.cast());
            let batch_write = new_handle(UV_PREPARE, connection.cast());
            if uv_timer_init(this.event_loop, timer) != 0
                || uv_async_init(this.event_loop, signal, on_signal) != 0
                || uv_prepare_init(this.event_loop, batch_write) != 0
            {
                // uv_*_init only fails on bad arguments; nothing was registered.
                free(timer);
                free(signal);
                free(batch_write);
                drop(Box::from_raw(connection));
                return Err(Error::new(Status::GenericFailure, "libuv handle set-up failed"));
            }
            this.timer = timer;
            this.batch_write = batch_write;
            *this.signal.handle.lock().unwrap_or_else(|p| p.into_inner()) = Some(signal as usize);
            this.open_handles = 3;
            this.set_referenced(false);
            let driver = Arc::new(UvDriver {
                connection,
                event_loop: this.event_loop,
                signal: this.signal.clone(),
                shutting_down: this.shutting_down.clone(),
                closed: this.closed.clone(),
            });
            context.open_connections.borrow_mut().push(connection);
            let link = WireLink::new(driver, db);
            this.link = Some(link.downgrade());
            Ok(link)
        }
    }

    /// A call was issued on the loop thread: written now when it is the only
    /// one waiting (the lowest latency for sequential awaits), else batched
    /// with the rest of this turn's calls.
    unsafe fn issued(&mut self) {
        let alone = match self.link.as_ref().and_then(WeakWireLink::upgrade) {
            Some(link) => {
                let state = link.state();
                state.status() != WireStatus::Connected || state.waiting() <= 1
            }
            None => return,
        };
        if alone {
            self.service();
        } else if !self.batch_pending {
            self.batch_pending = true;
            uv_prepare_start(self.batch_write, on_batch_write);
            if self.referenced {
                uv_ref(self.batch_write);
            } else {
                uv_unref(self.batch_write);
            }
        }
    }

    /// Connects when calls wait and no connection is up; writes what is
    /// queued; keeps the loop alive exactly while calls wait.
    unsafe fn service(&mut self) {
        let Some(link) = self.link.as_ref().and_then(WeakWireLink::upgrade) else { return };
        let mut state = link.state();
        match state.status() {
            WireStatus::Disconnected if state.busy() => {
                state.set_status(WireStatus::Connecting);
                self.start_connecting();
            }
            WireStatus::Connected => {
                if let Err(e) = self.flush(&mut state) {
                    self.disconnect(&mut state, e);
                }
            }
            _ => {}
        }
        let busy = state.busy();
        drop(state);
        self.set_referenced(busy);
    }

    fn start_connecting(&self) {
        let (info, connected, signal) = (self.info.clone(), self.connected.clone(), self.signal.clone());
        thread::spawn(move || {
            let result = wire::connect_blocking(&info).map_err(|e| (io_kind(&e), e.to_string()));
            *connected.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
            signal.send();
        });
    }

    /// Writes as much as the socket takes; watches for writability if some is left.
    unsafe fn flush(&mut self, state: &mut wire::WireState) -> io::Result<()> {
        let Some(stream) = self.stream.as_mut() else { return Ok(()) };
        while !state.outgoing().is_empty() {
            match stream.write(state.outgoing()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => state.wrote(written),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let wanted = if state.outgoing().is_empty() { UV_READABLE } else { UV_READABLE | UV_WRITABLE };
        if wanted != self.watching && !self.poll.is_null() {
            uv_poll_start(self.poll, wanted, on_poll);
            self.watching = wanted;
        }
        Ok(())
    }

    /// Reads every available byte and hands it to the protocol state.
    unsafe fn read(&mut self, state: &mut wire::WireState) -> Result<(), RedisError> {
        let Some(stream) = self.stream.as_mut() else { return Ok(()) };
        let buffer = &mut self.read_buffer;
        loop {
            match stream.read(buffer) {
                Ok(0) => {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "the server closed the connection").into())
                }
                Ok(read) => {
                    state.received(&buffer[..read])?;
                    if read < buffer.len() {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Fails every waiting call with `error` and drops the socket; the next
    /// call connects again.
    unsafe fn disconnect(&mut self, state: &mut wire::WireState, error: impl Into<RedisError>) {
        let error: RedisError = error.into();
        let (kind, text) = (io_kind(&error), error.to_string());
        state.fail_all(|| io::Error::new(kind, text.clone()).into());
        self.drop_socket();
    }

    unsafe fn drop_socket(&mut self) {
        if !self.poll.is_null() {
            uv_poll_stop(self.poll);
            uv_close(self.poll, Some(on_poll_closed));
            self.poll = std::ptr::null_mut();
            self.watching = 0;
        }
        self.stream = None;
    }

    /// A connection attempt finished (see `start_connecting`).
    unsafe fn connected(&mut self, result: Result<TcpStream, (io::ErrorKind, String)>) {
        let Some(link) = self.link.as_ref().and_then(WeakWireLink::upgrade) else { return };
        let mut state = link.state();
        let stream = match result.and_then(|stream| {
            stream.set_nonblocking(true).map_err(|e| (e.kind(), e.to_string()))?;
            Ok(stream)
        }) {
            Ok(stream) => stream,
            Err((kind, text)) => {
                state.fail_all(|| io::Error::new(kind, text.clone()).into());
                return;
            }
        };
        let poll = new_handle(UV_POLL, (self as *mut UvConnection).cast());
        if uv_poll_init_socket(self.event_loop, poll, stream.as_raw_fd()) != 0 {
            free(poll);
            state.fail_all(|| io::Error::other("libuv could not watch the socket").into());
            return;
        }
        self.open_handles += 1;
        self.poll = poll;
        self.stream = Some(stream);
        self.watching = 0;
        state.set_status(WireStatus::Connected);
        if let Err(e) = self.flush(&mut state) {
            self.disconnect(&mut state, e);
        }
        if !self.referenced && !self.poll.is_null() {
            uv_unref(self.poll);
        }
    }

    /// Keeps Node running while calls wait (and only then), with the deadline
    /// timer running. The timer is stopped by its own tick once nothing
    /// waits, not here: sequential calls would restart it for every call.
    unsafe fn set_referenced(&mut self, busy: bool) {
        if busy && !self.timer_running {
            uv_timer_start(self.timer, on_deadline_tick, DEADLINE_TICK_MS, DEADLINE_TICK_MS);
            self.timer_running = true;
        }
        if busy == self.referenced {
            return;
        }
        self.referenced = busy;
        let signal = self.signal.handle.lock().unwrap_or_else(|p| p.into_inner()).map(|h| h as *mut UvHandle);
        for handle in [self.poll, self.timer, self.batch_write, signal.unwrap_or(std::ptr::null_mut())] {
            if !handle.is_null() {
                if busy {
                    uv_ref(handle)
                } else {
                    uv_unref(handle)
                }
            }
        }
    }

    /// Closes every handle; the struct is freed once libuv has closed them.
    unsafe fn close(connection: *mut UvConnection) {
        let this = &mut *connection;
        if this.timer.is_null() {
            return; // closing already
        }
        this.closed.store(true, Ordering::Release);
        LOOP.with(|slot| {
            if let Some(context) = slot.borrow().as_ref() {
                context.open_connections.borrow_mut().retain(|open| *open != connection);
            }
        });
        this.link = None;
        this.drop_socket();
        uv_timer_stop(this.timer);
        uv_close(this.timer, Some(on_owned_handle_closed));
        this.timer = std::ptr::null_mut();
        uv_prepare_stop(this.batch_write);
        uv_close(this.batch_write, Some(on_owned_handle_closed));
        this.batch_write = std::ptr::null_mut();
        // Leaves the handle's memory to the close callback below.
        let signal = this.signal.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(signal) = signal {
            uv_close(signal as *mut UvHandle, Some(on_owned_handle_closed));
        }
    }

    unsafe fn after_event(&mut self) {
        if self.shutting_down.load(Ordering::Acquire) {
            UvConnection::close(self);
        } else {
            self.service();
        }
    }
}

fn io_kind(error: &RedisError) -> io::ErrorKind {
    if error.is_timeout() {
        io::ErrorKind::TimedOut
    } else if error.is_connection_refusal() {
        io::ErrorKind::ConnectionRefused
    } else {
        io::ErrorKind::ConnectionReset
    }
}

unsafe extern "C" fn on_poll(handle: *mut UvHandle, status: c_int, events: c_int) {
    let connection = handle_data::<UvConnection>(handle);
    in_callback_scope(|_| {
        let this = &mut *connection;
        let Some(link) = this.link.as_ref().and_then(WeakWireLink::upgrade) else { return };
        {
            let mut state = link.state();
            if status < 0 {
                this.disconnect(&mut state, io::Error::new(io::ErrorKind::ConnectionReset, "socket error"));
            } else {
                if events & UV_READABLE != 0 {
                    if let Err(e) = this.read(&mut state) {
                        this.disconnect(&mut state, e);
                    }
                }
                if events & UV_WRITABLE != 0 {
                    if let Err(e) = this.flush(&mut state) {
                        this.disconnect(&mut state, e);
                    }
                }
            }
        }
        this.after_event();
        drop(link);
    });
}

unsafe extern "C" fn on_signal(handle: *mut UvHandle) {
    let connection = handle_data::<UvConnection>(handle);
    in_callback_scope(|_| {
        let this = &mut *connection;
        let result = this.connected.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(result) = result {
            if this.shutting_down.load(Ordering::Acquire) {
                drop(result);
            } else {
                this.connected(result);
            }
        }
        this.after_event();
    });
}

unsafe extern "C" fn on_deadline_tick(handle: *mut UvHandle) {
    let connection = handle_data::<UvConnection>(handle);
    in_callback_scope(|_| {
        let this = &mut *connection;
        let Some(link) = this.link.as_ref().and_then(WeakWireLink::upgrade) else { return };
        {
            let mut state = link.state();
            if state.overdue(Instant::now()) {
                state.fail_all(wire::overdue_error);
                this.drop_socket();
            }
            if !state.busy() {
                uv_timer_stop(this.timer);
                this.timer_running = false;
            }
        }
        this.after_event();
        drop(link);
    });
}

unsafe extern "C" fn on_batch_write(handle: *mut UvHandle) {
    let connection = handle_data::<UvConnection>(handle);
    let this = &mut *connection;
    uv_prepare_stop(handle);
    this.batch_pending = false;
    // Only writes (and may fail calls, whose futures are then polled).
    in_callback_scope(|_| (*connection).after_event());
}

unsafe extern "C" fn on_poll_closed(handle: *mut UvHandle) {
    on_owned_handle_closed(handle);
}

unsafe extern "C" fn on_owned_handle_closed(handle: *mut UvHandle) {
    let connection = handle_data::<UvConnection>(handle);
    free(handle);
    (*connection).open_handles -= 1;
    if (*connection).open_handles == 0 {
        drop(Box::from_raw(connection));
    }
}
