//! `--debug` / `DXF_DEBUG=1`: the client's wire trace ([`TraceEvent`]s, secrets already
//! redacted by dxf-proto) on stderr, one line each, as `dxf debug: …`.

use std::io::Write;

use dxf_ureq::{Trace, TraceEvent};

/// Prints `dxf debug: <line>`.
pub(crate) fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "dxf debug: {line}");
}

/// The hook that prints every event.
pub(crate) fn trace() -> Trace {
    Trace::new(|event: &TraceEvent| {
        // A closed stderr is no reason to stop a transfer.
        let _ = writeln!(std::io::stderr().lock(), "dxf debug: {event}");
    })
}
