//! The TCP transport under ureq (and under its TLS): it connects, reads and writes in short
//! slices, so that a wait blocked on a stalled server notices the caller's
//! [`Interrupt`](dxf_proto::Interrupt) within [`SLICE`] and gives up — connecting, the TLS
//! handshake, a response head, a body, a request body the server stopped taking — while
//! ureq's own timeouts (set per request from dxf-proto's [`Bounds`](dxf_proto::Bounds))
//! still bound every wait.
//!
//! Which run a blocked wait belongs to is known from the thread: the driver (and a
//! [`BlobReader`](crate::BlobReader) while it reads) installs a [`Watch`] for the current
//! thread with [`watch`]; waits on a thread without one are never abandoned. A watch also
//! carries a deadline for a small body read whole (dxf-proto's whole-response bound).

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dxf_proto::{Interrupt, RunWatch, Stall};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
};
use ureq::Timeout;

/// The longest a blocked wait goes without looking at the interrupt.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

/// What the waits of the current thread obey.
pub(crate) struct Watch {
    run: RunWatch,
    /// How long the interrupt lets the current request finish (`None`: a cleanup request,
    /// sent because of it).
    grace: Cell<Option<Duration>>,
    /// The driver's clock for [`RunWatch::abandon_blocked`].
    epoch: Instant,
    /// The whole-body deadline of a small body being read, and the stall to report.
    deadline: Cell<Option<(Instant, Stall)>>,
}

thread_local! {
    static WATCH: RefCell<Option<Watch>> = const { RefCell::new(None) };
}

/// Restores the thread's previous watch when dropped.
pub(crate) struct WatchGuard(Option<Watch>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        WATCH.with(|w| *w.borrow_mut() = previous);
    }
}

/// Makes the current thread's network waits obey `interrupt` (as a run that keeps
/// checkpoints, or not) until the guard is dropped.
pub(crate) fn watch(interrupt: &Interrupt, keeps_checkpoints: bool) -> WatchGuard {
    let new = Watch {
        run: RunWatch::new(interrupt, keeps_checkpoints),
        grace: Cell::new(Some(Duration::ZERO)),
        epoch: Instant::now(),
        deadline: Cell::new(None),
    };
    WatchGuard(WATCH.with(|w| w.borrow_mut().replace(new)))
}

/// How long the interrupt lets the current thread's request finish (dxf-proto's
/// [`Bounds::interrupt_grace`](dxf_proto::Bounds::interrupt_grace)).
pub(crate) fn set_interrupt_grace(grace: Option<Duration>) {
    WATCH.with(|w| {
        if let Some(w) = w.borrow().as_ref() {
            w.grace.set(grace);
        }
    });
}

/// Sets (or clears) the deadline of the small body the current thread is about to read.
pub(crate) fn set_body_deadline(deadline: Option<(Instant, Stall)>) {
    WATCH.with(|w| {
        if let Some(w) = w.borrow().as_ref() {
            w.deadline.set(deadline);
        }
    });
}

/// Why a wait of the current thread must end now, if it must.
fn must_end(now: Instant) -> Option<io::Error> {
    WATCH.with(|w| {
        let w = w.borrow();
        let w = w.as_ref()?;
        if let Some((at, stall)) = w.deadline.get() {
            if now >= at {
                return Some(io::Error::new(io::ErrorKind::TimedOut, stall));
            }
        }
        let grace = w.grace.get()?;
        w.run
            .abandon_blocked(now.saturating_duration_since(w.epoch), grace)
            .then(|| io::Error::other(dxf_proto::Error::Cancelled))
    })
}

/// How long the next slice of a wait with `timeout` left may block: `None` when the
/// timeout has run out (the error to report then).
fn next_slice(timeout: &NextTimeout, started: Instant) -> Result<Duration, ureq::Error> {
    match timeout.not_zero() {
        None => Ok(SLICE),
        Some(total) => {
            let left = (*total).saturating_sub(started.elapsed());
            if left.is_zero() {
                Err(ureq::Error::Timeout(timeout.reason))
            } else {
                Ok(left.min(SLICE))
            }
        }
    }
}

fn is_slice_end(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Opens plain TCP connections as [`SlicedTcp`] transports (a proxy's connection, when the
/// chain already made one, passes through).
#[derive(Debug, Default)]
pub(crate) struct SlicedTcpConnector;

impl<In: Transport> Connector<In> for SlicedTcpConnector {
    type Out = Either<In, SlicedTcp>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(chained) = chained {
            return Ok(Some(Either::A(chained)));
        }
        let started = Instant::now();
        let mut last = None;
        for addr in details.addrs.iter() {
            match connect(*addr, &details.timeout, started) {
                Ok(stream) => {
                    stream.set_nodelay(details.config.no_delay())?;
                    let buffers = LazyBuffers::new(
                        details.config.input_buffer_size(),
                        details.config.output_buffer_size(),
                    );
                    return Ok(Some(Either::B(SlicedTcp {
                        stream,
                        buffers,
                        read_timeout: None,
                        write_timeout: None,
                    })));
                }
                Err(e @ ureq::Error::Timeout(_)) => return Err(e),
                Err(e) if is_cancel(&e) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ureq::Error::ConnectionFailed))
    }
}

fn is_cancel(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Io(io) if io.get_ref().is_some_and(|i| i.is::<dxf_proto::Error>()))
}

/// Connects on a helper thread and waits for it in slices; an abandoned connect is left to
/// finish (or time out) on its own.
fn connect(
    addr: SocketAddr,
    timeout: &NextTimeout,
    started: Instant,
) -> Result<TcpStream, ureq::Error> {
    let limit = timeout.not_zero().map(|t| *t);
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("dxf-connect".into())
        .spawn(move || {
            let r = match limit {
                Some(t) => TcpStream::connect_timeout(&addr, t.max(Duration::from_millis(1))),
                None => TcpStream::connect(addr),
            };
            let _ = tx.send(r);
        })?;
    loop {
        let slice = next_slice(timeout, started)?;
        match rx.recv_timeout(slice) {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(ureq::Error::Timeout(timeout.reason))
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(e) = must_end(Instant::now()) {
                    return Err(e.into());
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ureq::Error::ConnectionFailed),
        }
    }
}

/// A TCP connection whose every blocking read and write lasts at most [`SLICE`].
#[derive(Debug)]
pub(crate) struct SlicedTcp {
    stream: TcpStream,
    buffers: LazyBuffers,
    /// The socket's read and write timeouts as last set (saves a system call per read).
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl Transport for SlicedTcp {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let started = Instant::now();
        let mut sent = 0;
        while sent < amount {
            let slice = next_slice(&timeout, started)?;
            if let Some(e) = must_end(Instant::now()) {
                return Err(e.into());
            }
            if self.write_timeout != Some(slice) {
                self.stream.set_write_timeout(Some(slice))?;
                self.write_timeout = Some(slice);
            }
            let pending = self.buffers.output().get(sent..amount).unwrap_or_default();
            match self.stream.write(pending) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => sent += n,
                Err(e) if is_slice_end(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let started = Instant::now();
        loop {
            let slice = next_slice(&timeout, started)?;
            if let Some(e) = must_end(Instant::now()) {
                return Err(e.into());
            }
            if self.read_timeout != Some(slice) {
                self.stream.set_read_timeout(Some(slice))?;
                self.read_timeout = Some(slice);
            }
            match self.stream.read(self.buffers.input_append_buf()) {
                Ok(n) => {
                    self.buffers.input_appended(n);
                    return Ok(n > 0);
                }
                Err(e) if is_slice_end(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn is_open(&mut self) -> bool {
        // Idle in the pool: open only when nothing (not even an end) is waiting.
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let open = matches!(
            self.stream.read(&mut [0u8]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        );
        open && self.stream.set_nonblocking(false).is_ok()
    }
}

/// The stall a ureq timeout means under `bounds`.
pub(crate) fn stall_of(e: &ureq::Error, bounds: &dxf_proto::Bounds) -> Option<Stall> {
    let zero = Duration::ZERO;
    match e {
        ureq::Error::Timeout(t) => Some(match t {
            Timeout::Connect | Timeout::Resolve => Stall::Connect(bounds.connect.unwrap_or(zero)),
            Timeout::PerRead | Timeout::PerWrite | Timeout::SendBody => {
                Stall::Idle(bounds.idle.unwrap_or(zero))
            }
            Timeout::Global | Timeout::PerCall => {
                Stall::Response(bounds.whole.or(bounds.response).unwrap_or(zero))
            }
            _ => Stall::Response(bounds.response.unwrap_or(zero)),
        }),
        ureq::Error::Io(io) => io_stall(io, bounds.idle),
        _ => None,
    }
}

/// The stall inside an IO error from reading a body (`idle`: the per-read bound).
pub(crate) fn io_stall(e: &io::Error, idle: Option<Duration>) -> Option<Stall> {
    if let Some(inner) = e.get_ref() {
        if let Some(stall) = inner.downcast_ref::<Stall>() {
            return Some(*stall);
        }
        if let Some(ureq::Error::Timeout(_)) = inner.downcast_ref::<ureq::Error>() {
            return Some(Stall::Idle(idle.unwrap_or_default()));
        }
    }
    (e.kind() == io::ErrorKind::TimedOut).then(|| Stall::Idle(idle.unwrap_or_default()))
}
