//! Everything the binary writes to the terminal: logging setup, data on stdout, errors on stderr.
#![expect(clippy::print_stderr, reason = "the one module that prints")]

use std::io::IsTerminal;
use std::process::ExitCode;

use crucible_core::types::env;
use tracing_subscriber::EnvFilter;

use crate::commands::GlobalArgs;

/// Install the stderr logger. `RUST_LOG` wins over `-v`/`-q`.
///
/// By default llama.cpp's own warnings are left out: the default model's file draws one at every
/// load ("control-looking token ... was not control-type") that no user can act on, and
/// Crucible reports the problems that matter (a bad file, a prompt too long) itself. `-v` shows
/// them with the rest of llama.cpp's log.
pub(crate) fn init_logging(global: &GlobalArgs) {
    let default = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,llama-cpp-2=error",
        (false, 1) => "info,crucible=debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env(env::RUST_LOG).unwrap_or_else(|_| EnvFilter::new(default));
    let color = std::io::stderr().is_terminal() && std::env::var_os(env::NO_COLOR).is_none();
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
    let hint = err.chain().find_map(|cause| {
        if let Some(core) = cause.downcast_ref::<crucible_core::Error>() {
            return core.hint();
        }
        cause
            .downcast_ref::<crucible_core::model::Error>()
            .and_then(|model| model.hint())
    });
    let message = format!("{err:#}");
    if let Some(hint) = hint.filter(|hint| !message.contains(hint.as_str())) {
        eprintln!("\nhint: {hint}");
    }
    ExitCode::from(1)
}

/// Write data (code, JSON) to stdout. A reader that went away (`| head`) is not an error: the
/// rest of the output is dropped, as command-line tools do on a closed pipe, instead of a panic.
pub(crate) fn data(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{text}").and_then(|()| stdout.flush());
    if let Err(err) = written
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: could not write to stdout: {err}");
    }
}

/// Write a status line for people (progress, what was done) to stderr.
pub(crate) fn status(text: &str) {
    eprintln!("{text}");
}

/// Write streamed model text to stdout as it arrives (no newline added).
pub(crate) fn stream_text(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not abort generation; the final write reports it.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// A progress callback for model downloads started by commands other than `model pull`.
pub(crate) fn pull_progress() -> impl FnMut(&crucible_core::model::PullEvent<'_>) {
    |event| {
        if !matches!(event, crucible_core::model::PullEvent::Bytes { .. }) {
            tracing::info!("{event:?}");
        }
    }
}
