//! Running a `docker-credential-NAME` program: one action, bytes on stdin, bounded stdout
//! back. Its stderr is discarded (helpers report failures on stdout).

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use dxf_proto::docker_config::MAX_HELPER_OUTPUT;

use crate::Error;

/// Runs `program action` (found on `PATH`) with `input` on its stdin; returns whether it
/// exited 0 and what it printed (at most [`MAX_HELPER_OUTPUT`] + 1 bytes are read).
pub fn run_helper(program: &str, action: &str, input: &[u8]) -> Result<(bool, Vec<u8>), Error> {
    let failed = |error| Error::Run {
        program: program.to_owned(),
        error,
    };
    let mut child = Command::new(program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(failed)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is judged by its exit status.
        let _ = stdin.write_all(input);
    }
    let mut output = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        let limit = u64::try_from(MAX_HELPER_OUTPUT).unwrap_or(u64::MAX) + 1;
        stdout
            .take(limit)
            .read_to_end(&mut output)
            .map_err(failed)?;
        // Dropped here: a helper still writing gets a broken pipe instead of blocking.
    }
    let status = child.wait().map_err(failed)?;
    Ok((status.success(), output))
}
