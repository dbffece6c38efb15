//! Ctrl-C and `kill` during a transfer. [`watch`] starts a thread that waits for SIGINT,
//! SIGTERM or SIGHUP. The first one raises the transfers' [`Interrupt`] with
//! [`Interrupt::stop`]: a `--resumable` upload ends at its next checkpoint and keeps its
//! registry session (the same command run again continues it); any other upload is
//! cancelled and its session deleted; a pull stops and removes its temporary file. The
//! command then fails with `dxf: interrupted by SIGINT …` and exit code 128 + the signal
//! number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), as a shell reports a process
//! killed by it. A second signal ends the process at once with that code.
//!
//! `push-blob`, `pull-blob` and `copy` watch ([`crate::cli::Command::transfers_blobs`]);
//! commands that do not transfer blobs keep the default behaviour (the signal ends them).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::LazyLock;

use dxf_ureq::Interrupt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The process's one interrupt, given to every registry client it makes.
static INTERRUPT: LazyLock<Interrupt> = LazyLock::new(Interrupt::new);

/// The interrupt every registry client of this process obeys.
pub fn interrupt() -> &'static Interrupt {
    &INTERRUPT
}

/// Raises [`interrupt`] on the first SIGINT/SIGTERM/SIGHUP and exits on the second. When
/// the handlers cannot be installed, the signals keep their default behaviour.
pub fn watch() {
    let interrupt = interrupt().clone();
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    // A thread that cannot start drops `signals`, which unregisters them.
    let _ = std::thread::Builder::new()
        .name("dxf-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if RECEIVED
                    .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    interrupt.stop();
                } else {
                    std::process::exit(128 + signal);
                }
            }
        });
}

/// A reader that fails (with `Cancelled` inside) once [`interrupt`] is raised: hashing a
/// large file before its upload stops at Ctrl-C instead of finishing first.
pub struct Interruptible<R>(pub R);

impl<R: std::io::Read> std::io::Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if interrupt().is_raised() {
            return Err(std::io::Error::other(dxf_ureq::dxf_proto::Error::Cancelled));
        }
        self.0.read(buf)
    }
}

/// The signal that interrupted the command, if one did: its name and exit code.
pub fn received() -> Option<(&'static str, u8)> {
    let signal = RECEIVED.load(Ordering::SeqCst);
    let name = match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => return None,
    };
    Some((name, u8::try_from(128 + signal).unwrap_or(1)))
}
