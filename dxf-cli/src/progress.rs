//! Progress bars on stderr, one per blob transferred (python-dxf draws them with tqdm):
//! labelled with the start of the digest, then percent, bytes done/total and the rate.
//!
//! `DXF_PROGRESS=1` draws them always (even into a file or pipe, as plain `\r`-separated
//! updates), `0` never, anything else only when stderr is a terminal. Bars are created on
//! the first byte reported, so a push skipped because the blob exists shows none.

use std::io::{self, IsTerminal, Write};

use dxf_ureq::Digest;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::env::ProgressSetting;

/// Characters of the digest used as the label: `sha256:` and 12 hex digits (python-dxf
/// shows 8, `sha256:` and one digit).
pub const LABEL_LEN: usize = 19;

/// Whether and where to draw bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// No bars.
    Off,
    /// Bars through indicatif's terminal target (stderr is a terminal).
    Terminal,
    /// Bars forced onto a stderr that is not a terminal.
    Forced,
}

impl Progress {
    /// Decides from `DXF_PROGRESS` and whether stderr is a terminal.
    pub fn new(setting: ProgressSetting) -> Progress {
        Progress::decide(setting, io::stderr().is_terminal())
    }

    /// The decision, given whether stderr is a terminal.
    pub fn decide(setting: ProgressSetting, stderr_is_terminal: bool) -> Progress {
        match (setting, stderr_is_terminal) {
            (ProgressSetting::Never, _) | (ProgressSetting::IfTerminal, false) => Progress::Off,
            (_, true) => Progress::Terminal,
            (ProgressSetting::Always, false) => Progress::Forced,
        }
    }

    /// A bar for a transfer of `digest` (`total` bytes when known); `None` when off.
    pub fn bar(self, digest: &Digest, total: Option<u64>) -> Option<Bar> {
        self.labelled(&label(digest), total)
    }

    /// A bar labelled `label` (a transfer whose digest is not known yet, e.g. a push
    /// from standard input); `None` when off.
    pub fn labelled(self, label: &str, total: Option<u64>) -> Option<Bar> {
        let target = match self {
            Progress::Off => return None,
            Progress::Terminal => ProgressDrawTarget::stderr(),
            Progress::Forced => ProgressDrawTarget::term_like_with_hz(Box::new(PlainStderr), 4),
        };
        let bar = ProgressBar::with_draw_target(total, target);
        bar.set_style(style(total.is_some()));
        bar.set_prefix(label.to_owned());
        Some(Bar {
            bar,
            forced: self == Progress::Forced,
        })
    }
}

/// The label for `digest`: its first [`LABEL_LEN`] characters.
pub fn label(digest: &Digest) -> String {
    digest.as_str().chars().take(LABEL_LEN).collect()
}

/// The bar when the size is known: label, percent, bar, bytes done/total, elapsed, rate.
const TEMPLATE: &str = "{prefix}: {percent:>3}%|{bar:25}| {pos}/{len} [{elapsed}, {bytes_per_sec}]";
/// The bar when the size is unknown (a blob served without `Content-Length`).
const TEMPLATE_NO_TOTAL: &str = "{prefix}: {pos} bytes [{elapsed}, {bytes_per_sec}]";

fn style(known_total: bool) -> ProgressStyle {
    let template = if known_total {
        TEMPLATE
    } else {
        TEMPLATE_NO_TOTAL
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
}

/// One blob's bar; finished (and left on screen, ended by a newline) when dropped.
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
    /// Drawn on a non-terminal, where the last state needs its newline added.
    forced: bool,
}

impl Bar {
    /// Sets the bytes done.
    pub fn set(&self, done: u64) {
        self.bar.set_position(done);
    }

    /// Adds to the bytes done.
    pub fn add(&self, n: u64) {
        self.bar.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish();
        if self.forced {
            let _ = io::stderr().write_all(b"\n");
        }
    }
}

/// stderr drawn on without terminal control sequences: each redraw starts with `\r`.
#[derive(Debug)]
struct PlainStderr;

impl TermLike for PlainStderr {
    fn width(&self) -> u16 {
        100
    }

    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        writeln!(io::stderr(), "{s}")
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        io::stderr().write_all(s.as_bytes())
    }

    fn clear_line(&self) -> io::Result<()> {
        io::stderr().write_all(b"\r")
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table() {
        use ProgressSetting::*;
        assert_eq!(Progress::decide(Always, false), Progress::Forced);
        assert_eq!(Progress::decide(Always, true), Progress::Terminal);
        assert_eq!(Progress::decide(Never, true), Progress::Off);
        assert_eq!(Progress::decide(Never, false), Progress::Off);
        assert_eq!(Progress::decide(IfTerminal, true), Progress::Terminal);
        assert_eq!(Progress::decide(IfTerminal, false), Progress::Off);
    }

    #[test]
    fn label_is_the_digest_prefix() {
        let d = Digest::parse(
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        .unwrap();
        assert_eq!(label(&d), "sha256:ba7816bf8f01");
        assert!(label(&d).len() >= 8);
    }

    #[test]
    fn off_gives_no_bar() {
        let d = Digest::parse(
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        .unwrap();
        assert!(Progress::Off.bar(&d, Some(3)).is_none());
    }

    #[test]
    fn templates_parse() {
        for t in [TEMPLATE, TEMPLATE_NO_TOTAL] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
