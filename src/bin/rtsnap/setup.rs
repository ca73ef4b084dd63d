//! The process's set-up before any command runs: logs (to stderr, every line masked)
//! and the environment variables that tune the library for this process.

use std::io::Write;

/// Logs go to stderr, masked. `-v` shows rtsnap's info lines; `RUST_LOG` overrides.
pub(crate) fn init_logging(verbose: bool, quiet: bool) {
    let default = if quiet {
        "error"
    } else if verbose {
        "rtsnap=info,warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| MaskedStderr)
        .with_target(false)
        .try_init();
}

/// `RTSNAP_LINE_HELPERS=N`: threads that check and hash each large entry's lines
/// (default: one fewer than the CPUs, at most 3). For measuring on a small machine what
/// a larger one does (scripts/pack-threads.sh) and for the tests; a bad value is
/// reported and the default kept.
pub(crate) fn line_helpers_from_env() {
    let Ok(value) = std::env::var("RTSNAP_LINE_HELPERS") else {
        return;
    };
    match value.trim().parse::<usize>() {
        Ok(n) if n <= rtsnap::archive::MAX_SET_HELPERS => {
            rtsnap::archive::set_line_helpers(n);
        }
        _ => tracing::warn!(
            %value,
            "RTSNAP_LINE_HELPERS is not a count from 0 to {}; using the default",
            rtsnap::archive::MAX_SET_HELPERS
        ),
    }
}

/// stderr, with every line passed through the secret mask.
struct MaskedStderr;

impl Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(rtsnap::mask::mask_secrets(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
