//! Ctrl-C and `kill` during a transfer. [`watch`] starts a thread that waits for SIGINT,
//! SIGTERM or SIGHUP. The first one raises the transfers' [`Interrupt`] with
//! [`Interrupt::stop`]: a `--resumable` upload ends at its next checkpoint and keeps its
//! registry session (the same command run again continues it); any other upload is
//! cancelled and its session deleted; a pull stops and removes its temporary file. The
//! command then fails with `dxf: interrupted by SIGINT …` and exit code 128 + the signal
//! number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP), as a shell reports a process
//! killed by it. A second signal ends the process at once with that code, after removing
//! the temporary files still registered with [`remove_if_killed`] and printing the same
//! line.
//!
//! `push-blob`, `pull-blob` and `copy` watch ([`crate::commands::Run::transfers_blobs`]);
//! commands that do not transfer blobs keep the default behaviour (the signal ends them).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

use dxf_ureq::Interrupt;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The first signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Temporary files to remove when a second signal ends the process at once.
static TEMPORARY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes `path` if a second signal ends the process before the command could (until
/// [`keep`] is called for it).
pub(crate) fn remove_if_killed(path: &Path) {
    TEMPORARY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(path.to_owned());
}

/// Forgets a path given to [`remove_if_killed`] (it was renamed into place or removed).
pub(crate) fn keep(path: &Path) {
    TEMPORARY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|p| p != path);
}

/// What a second signal does: the temporary files go, one line says why, and the process
/// ends — the line and the exit code (128 + the signal) both name the *first* signal,
/// whichever of two signals sent at once the process saw first.
fn exit_at_once(signal: i32) -> ! {
    for path in TEMPORARY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        let _ = std::fs::remove_file(path);
    }
    let reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    let first = received();
    if let (false, Some((name, _))) = (*reported, first) {
        eprintln!("dxf: interrupted by {name}");
    }
    std::process::exit(first.map_or(128 + signal, |(_, code)| i32::from(code)))
}

/// Whether the interruption was reported; held while it is written, so that a second
/// signal neither cuts the line short nor writes it twice.
static REPORTED: Mutex<bool> = Mutex::new(false);

/// Writes `line` (the interruption's report) to stderr, once.
pub(crate) fn report(line: &str) {
    let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    if !*reported {
        let _ = writeln!(std::io::stderr(), "{line}");
        *reported = true;
    }
}

/// The process's one interrupt, given to every registry client it makes.
static INTERRUPT: LazyLock<Interrupt> = LazyLock::new(Interrupt::new);

/// The interrupt every registry client of this process obeys.
pub(crate) fn interrupt() -> &'static Interrupt {
    &INTERRUPT
}

/// Raises [`interrupt`] on the first SIGINT/SIGTERM/SIGHUP and exits on the second. When
/// the handlers cannot be installed, the signals keep their default behaviour.
pub(crate) fn watch() {
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
                    exit_at_once(signal);
                }
            }
        });
}

/// A reader that fails (with `Cancelled` inside) once [`interrupt`] is raised: hashing a
/// large file before its upload stops at Ctrl-C instead of finishing first.
pub(crate) struct Interruptible<R>(pub R);

impl<R: std::io::Read> std::io::Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if interrupt().is_raised() {
            return Err(std::io::Error::other(dxf_ureq::dxf_proto::Error::Cancelled));
        }
        self.0.read(buf)
    }
}

/// The signal that interrupted the command, if one did: its name and exit code.
pub(crate) fn received() -> Option<(&'static str, u8)> {
    let signal = RECEIVED.load(Ordering::SeqCst);
    let name = match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => return None,
    };
    Some((name, u8::try_from(128 + signal).unwrap_or(1)))
}
