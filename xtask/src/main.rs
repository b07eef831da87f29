//! Repository checks (`cargo run -p xtask -- tidy`); the same checks run as tests.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a developer tool"
)]

mod tidy;

fn main() -> std::process::ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("tidy") => match tidy::check_all() {
            Ok(()) => {
                println!("tidy: ok");
                std::process::ExitCode::SUCCESS
            }
            Err(problems) => {
                for problem in problems {
                    eprintln!("tidy: {problem}");
                }
                std::process::ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: cargo run -p xtask -- tidy");
            std::process::ExitCode::from(2)
        }
    }
}
