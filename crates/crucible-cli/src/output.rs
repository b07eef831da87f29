//! Everything the binary writes to the terminal: logging setup, data on stdout, errors on stderr.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the one module that prints"
)]

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use crate::commands::GlobalArgs;

/// Install the stderr logger. `RUST_LOG` wins over `-v`/`-q`.
pub(crate) fn init_logging(global: &GlobalArgs) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info,crucible=debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
        .init();
}

/// Print an error chain once, with any hint, and choose the exit code.
pub(crate) fn report_error(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::from(1)
}

/// Write data (code, JSON) to stdout.
pub(crate) fn data(text: &str) {
    println!("{text}");
}

/// Write a status line for people (progress, what was done) to stderr.
pub(crate) fn status(text: &str) {
    eprintln!("{text}");
}
