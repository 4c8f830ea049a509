//! The command line: one file per subcommand. `main.rs` only calls [`main`].

use std::process::ExitCode;

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
