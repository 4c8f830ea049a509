//! The `qbsync` binary: a thin shell over [`qbsync::commands`].

use std::process::ExitCode;

fn main() -> ExitCode {
    qbsync::commands::main()
}
