//! Per-layer progress: an indicatif bar per blob when stderr is a terminal, otherwise one plain
//! line when a blob starts and one when it ends (logs and CI stay readable).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Progress for one pull or push.
#[derive(Clone)]
pub struct Progress {
    bars: Option<MultiProgress>,
}

/// Progress of one blob.
#[derive(Clone)]
pub struct BlobProgress {
    bar: Option<ProgressBar>,
    label: String,
}

impl Progress {
    /// Bars on a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        let bars = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { bars }
    }

    /// Start tracking a blob of `size` bytes.
    pub fn blob(&self, label: String, size: u64) -> BlobProgress {
        let bar = self.bars.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(size));
            if let Ok(style) =
                ProgressStyle::with_template("{prefix}: {wide_bar} {bytes}/{total_bytes} {msg}")
            {
                bar.set_style(style);
            }
            bar.set_prefix(label.clone());
            bar
        });
        BlobProgress { bar, label }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// The short form docker shows for a digest: its first 12 hex characters.
pub fn short(digest: &dock_registry::digest::Digest) -> String {
    digest.hex().chars().take(12).collect()
}

impl BlobProgress {
    /// A status change (`downloading`, `resuming at N`, `mounted`, ...).
    pub fn status(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None => eprintln!("{}: {msg}", self.label),
        }
    }

    /// Bytes moved.
    pub fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Set the position (after a resume).
    pub fn set_position(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.set_position(n);
        }
    }

    /// Finished with `msg`.
    pub fn finish(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.finish_with_message(msg.to_string()),
            None => eprintln!("{}: {msg}", self.label),
        }
    }
}
