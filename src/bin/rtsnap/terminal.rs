//! The CLI's terminal side: progress bars (indicatif) and confirmation prompts. Only
//! the binary uses this; the library reports through `rtsnap::progress::Progress` and
//! asks through `rtsnap::command::import::Prompt`.

use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rtsnap::command::import::Prompt;
use rtsnap::progress::{Progress, ProgressTask};

/// Progress bars on stderr, one per table; notes as plain lines. Hidden (but notes
/// still printed unless quiet) when stderr is not a terminal or with `--no-progress`.
pub struct TerminalProgress {
    bars: MultiProgress,
    show_bars: bool,
    quiet: bool,
}

impl TerminalProgress {
    pub fn new(no_progress: bool, quiet: bool) -> Self {
        let show_bars = !no_progress && !quiet && std::io::stderr().is_terminal();
        let bars = MultiProgress::with_draw_target(if show_bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        TerminalProgress {
            bars,
            show_bars,
            quiet,
        }
    }
}

impl Progress for TerminalProgress {
    fn start_bytes(&self, label: &str, total: Option<u64>) -> Box<dyn ProgressTask> {
        if !self.show_bars {
            return Box::new(rtsnap::progress::NoProgress);
        }
        let bar = self.bars.add(ProgressBar::new(total.unwrap_or(0)));
        let style = ProgressStyle::with_template(
            "{prefix:>24} {bar:30} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Box::new(Bar(bar))
    }

    fn start(&self, label: &str, total: Option<u64>) -> Box<dyn ProgressTask> {
        if !self.show_bars {
            return Box::new(rtsnap::progress::NoProgress);
        }
        let bar = self.bars.add(ProgressBar::new(total.unwrap_or(0)));
        let style =
            ProgressStyle::with_template("{prefix:>24} {bar:30} {pos:>8}/{len:<8} {rate:>9} {msg}")
                .map(|style| {
                    style.with_key(
                        "rate",
                        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{:.0}/s", state.per_sec());
                        },
                    )
                })
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Box::new(Bar(bar))
    }

    fn note(&self, text: &str) {
        if self.quiet {
            return;
        }
        let line = rtsnap::mask::mask_secrets(text);
        if self.show_bars {
            let _ = self.bars.println(line);
        } else {
            eprintln!("{line}");
        }
    }
}

struct Bar(ProgressBar);

impl ProgressTask for Bar {
    fn advance(&self, items: u64) {
        if self
            .0
            .length()
            .is_some_and(|len| self.0.position() + items > len)
        {
            self.0.set_length(self.0.position() + items);
        }
        self.0.inc(items);
    }

    /// Finished bars leave the screen: only work in progress is shown, and the final
    /// report lists every table.
    fn finish(&self, _summary: &str) {
        self.0.finish_and_clear();
    }
}

/// Asks on the terminal; only built when stdin and stderr are terminals.
pub struct TerminalPrompt;

impl TerminalPrompt {
    pub fn if_interactive() -> Option<TerminalPrompt> {
        (std::io::stdin().is_terminal() && std::io::stderr().is_terminal())
            .then_some(TerminalPrompt)
    }

    fn ask(&self, question: &str) -> Option<String> {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok()?;
        Some(answer.trim().to_owned())
    }
}

impl Prompt for TerminalPrompt {
    fn type_name(&self, question: &str) -> Option<String> {
        self.ask(question)
    }

    fn yes_no(&self, question: &str) -> bool {
        matches!(
            self.ask(question).as_deref(),
            Some("y" | "Y" | "yes" | "YES" | "Yes")
        )
    }
}
