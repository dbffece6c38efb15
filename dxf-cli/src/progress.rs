//! Progress bars on stderr, one per blob transferred (python-dxf draws them with tqdm):
//! labelled with the start of the digest, then percent, bytes done/total and the rate.
//!
//! `DXF_PROGRESS=1` draws them always (even into a file or pipe, as plain `\r`-separated
//! updates), `0` never, anything else only when stderr is a terminal. Bars are created on
//! the first byte reported, so a push skipped because the blob exists shows none.
//!
//! Concurrent transfers (`push-blob --jobs`, `pull-blob --output DIR`) draw a [`Group`]:
//! one bar per blob in flight above a `total` bar (indicatif's `MultiProgress`). Forced
//! onto a non-terminal, each redraw is a block of lines, one per bar.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use dxf_ureq::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use crate::env::ProgressSetting;

/// Characters of the digest used as the label: `sha256:` and 12 hex digits (python-dxf
/// shows 8, `sha256:` and one digit).
pub(crate) const LABEL_LEN: usize = 19;

/// Whether and where to draw bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// No bars.
    Off,
    /// Bars through indicatif's terminal target (stderr is a terminal).
    Terminal,
    /// Bars forced onto a stderr that is not a terminal.
    Forced,
}

impl Progress {
    /// Decides from `DXF_PROGRESS` and whether stderr is a terminal.
    pub(crate) fn new(setting: ProgressSetting) -> Progress {
        Progress::decide(setting, io::stderr().is_terminal())
    }

    /// The decision, given whether stderr is a terminal.
    pub(crate) fn decide(setting: ProgressSetting, stderr_is_terminal: bool) -> Progress {
        match (setting, stderr_is_terminal) {
            (ProgressSetting::Never, _) | (ProgressSetting::IfTerminal, false) => Progress::Off,
            (_, true) => Progress::Terminal,
            (ProgressSetting::Always, false) => Progress::Forced,
        }
    }

    /// A bar for a transfer of `digest` (`total` bytes when known); `None` when off.
    pub(crate) fn bar(self, digest: &Digest, total: Option<u64>) -> Option<Bar> {
        self.labelled(&label(digest), total)
    }

    /// A bar labelled `label` (a transfer whose digest is not known yet, e.g. a push
    /// from standard input); `None` when off.
    pub(crate) fn labelled(self, label: &str, total: Option<u64>) -> Option<Bar> {
        let target = self.target(PlainStderr { lines: false })?;
        let bar = ProgressBar::with_draw_target(total, target);
        bar.set_style(style(total.is_some()));
        bar.set_prefix(label.to_owned());
        Some(Bar {
            bar,
            forced: self == Progress::Forced,
            total: None,
        })
    }

    /// Bars for concurrent transfers, above a `total` bar; `None` when off.
    pub(crate) fn group(self) -> Option<Group> {
        let multi = MultiProgress::with_draw_target(self.target(PlainStderr { lines: true })?);
        // Drawn (added to `multi`) with the first transfer's bar.
        let total = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        total.set_style(
            ProgressStyle::with_template(TEMPLATE_TOTAL)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("#>-"),
        );
        total.set_prefix(format!("{:<LABEL_LEN$}", "total"));
        Some(Group {
            multi,
            total,
            shown: Once::new(),
        })
    }

    /// Where bars are drawn; `None` when off.
    fn target(self, plain: PlainStderr) -> Option<ProgressDrawTarget> {
        match self {
            Progress::Off => None,
            Progress::Terminal => Some(ProgressDrawTarget::stderr()),
            Progress::Forced => Some(ProgressDrawTarget::term_like_with_hz(Box::new(plain), 4)),
        }
    }
}

/// Bars of concurrent transfers (one per blob, created as each starts) above a `total`
/// bar: bytes done of the sizes of the transfers started so far (it appears with the
/// first). Shared by the transfer threads; the total is finished (and left on screen)
/// when dropped.
#[derive(Debug)]
pub(crate) struct Group {
    multi: MultiProgress,
    total: ProgressBar,
    /// Whether `total` was added to `multi`.
    shown: Once,
}

impl Group {
    /// A bar for a transfer of `digest` (`total` bytes when known, then added to the
    /// total's length), placed above the total.
    pub(crate) fn bar(&self, digest: &Digest, total: Option<u64>) -> Bar {
        self.shown.call_once(|| {
            self.total.reset_elapsed();
            self.multi.add(self.total.clone());
        });
        let bar = total.map_or_else(ProgressBar::no_length, ProgressBar::new);
        let bar = self.multi.insert_before(&self.total, bar);
        bar.set_style(style(total.is_some()));
        bar.set_prefix(label(digest));
        if let Some(n) = total {
            self.total.inc_length(n);
        }
        Bar {
            bar,
            forced: false,
            total: Some(Counted {
                bar: self.total.clone(),
                done: AtomicU64::new(0),
            }),
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.total.finish();
    }
}

/// Where to draw one transfer's bar: on its own, or in a [`Group`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bars<'a> {
    /// One bar at a time (or none, when off).
    One(Progress),
    /// In a group of concurrent transfers.
    In(&'a Group),
}

impl Bars<'_> {
    /// Whether bars are drawn at all.
    pub(crate) fn on(self) -> bool {
        !matches!(self, Bars::One(Progress::Off))
    }

    /// A bar for a transfer of `digest` (`total` bytes when known); `None` when off.
    pub(crate) fn bar(self, digest: &Digest, total: Option<u64>) -> Option<Bar> {
        match self {
            Bars::One(progress) => progress.bar(digest, total),
            Bars::In(group) => Some(group.bar(digest, total)),
        }
    }
}

/// The label for `digest`: its first [`LABEL_LEN`] characters.
pub(crate) fn label(digest: &Digest) -> String {
    digest.as_str().chars().take(LABEL_LEN).collect()
}

/// The bar when the size is known: label, percent, bar, bytes done/total, elapsed, rate.
const TEMPLATE: &str = "{prefix}: {percent:>3}%|{bar:25}| {pos}/{len} [{elapsed}, {bytes_per_sec}]";
/// The bar when the size is unknown (a blob served without `Content-Length`).
const TEMPLATE_NO_TOTAL: &str = "{prefix}: {pos} bytes [{elapsed}, {bytes_per_sec}]";
/// A [`Group`]'s total bar.
const TEMPLATE_TOTAL: &str =
    "{prefix}: {percent:>3}%|{bar:25}| {pos}/{len} [{elapsed}, {bytes_per_sec}]";

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
pub(crate) struct Bar {
    bar: ProgressBar,
    /// Drawn alone on a non-terminal, where the last state needs its newline added.
    forced: bool,
    /// In a [`Group`]: its total, and what this bar added to it.
    total: Option<Counted>,
}

/// A group's total bar, and the bytes one transfer added to it.
#[derive(Debug)]
struct Counted {
    bar: ProgressBar,
    done: AtomicU64,
}

impl Bar {
    /// Sets the bytes done.
    pub(crate) fn set(&self, done: u64) {
        self.bar.set_position(done);
        if let Some(t) = &self.total {
            let before = t.done.swap(done, Ordering::Relaxed);
            if done >= before {
                t.bar.inc(done - before);
            } else {
                t.bar
                    .set_position(t.bar.position().saturating_sub(before - done));
            }
        }
    }

    /// Adds to the bytes done.
    pub(crate) fn add(&self, n: u64) {
        self.bar.inc(n);
        if let Some(t) = &self.total {
            t.done.fetch_add(n, Ordering::Relaxed);
            t.bar.inc(n);
        }
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

/// stderr drawn on without terminal control sequences: each redraw of a single bar
/// starts with `\r`; with `lines` (a [`Group`]), each bar of a redraw is a line.
#[derive(Debug)]
struct PlainStderr {
    lines: bool,
}

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
        // A group pads each bar with spaces to the width (one write): a line's end.
        if self.lines && s.bytes().all(|b| b == b' ') {
            return io::stderr().write_all(b"\n");
        }
        io::stderr().write_all(s.as_bytes())
    }

    fn clear_line(&self) -> io::Result<()> {
        if self.lines {
            return Ok(());
        }
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
    fn off_gives_no_group() {
        assert!(Progress::Off.group().is_none());
        assert!(!Bars::One(Progress::Off).on());
    }

    #[test]
    fn group_bars_add_up_in_the_total() {
        let d = Digest::parse(
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        )
        .unwrap();
        let group = Group {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            total: ProgressBar::new(0),
            shown: Once::new(),
        };
        let a = group.bar(&d, Some(10));
        let b = group.bar(&d, Some(5));
        a.set(4);
        a.set(10);
        b.add(3);
        assert_eq!(group.total.length(), Some(15));
        assert_eq!(group.total.position(), 13);
        a.set(6);
        assert_eq!(group.total.position(), 9);
    }

    #[test]
    fn templates_parse() {
        for t in [TEMPLATE, TEMPLATE_NO_TOTAL, TEMPLATE_TOTAL] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
