//! `bench`: parse the command line, hand it to the library, map the outcome to an exit code.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = esp_bench::cli::Cli::parse();
    esp_bench::main_with(cli)
}
