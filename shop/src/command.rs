//! How the shop's commands (`courseshop`, `enrollment-worker`) end, the same for both: 0 done,
//! 2 a bad setting or argument (nothing ran: fix the configuration), 1 a failure while running.

use std::process::ExitCode;

use crate::settings::SettingsError;

/// The command named on the command line (after the program's name), parsed by `parse`; or, for
/// `-h`/`--help`/`help` and for a command `parse` refuses, the exit status to stop with (0 after
/// printing `usage`, 2 after saying what is wrong). Then a local `.env` is read: a convenience
/// for development, which the real environment always overrides.
pub fn from_args<C>(
    program: &str,
    usage: &str,
    parse: impl Fn(&[String]) -> Result<C, String>,
) -> Result<C, ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        println!("{usage}");
        return Err(ExitCode::SUCCESS);
    }
    let command = parse(&args).map_err(|message| {
        eprintln!("{program}: {message}");
        ExitCode::from(2)
    })?;
    let _ = dotenvy::dotenv();
    Ok(command)
}

/// A bad setting (exit 2, before anything ran) or a failure while running (exit 1).
pub enum Failure {
    Settings(SettingsError),
    Run(anyhow::Error),
}

impl From<SettingsError> for Failure {
    fn from(error: SettingsError) -> Failure {
        Failure::Settings(error)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Run(error)
    }
}

/// Says what went wrong (on stderr, and in the log for a failure while running) and gives the
/// process's exit status.
pub fn exit_code(program: &str, outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Settings(error)) => {
            eprintln!("{program}: configuration error: {error}");
            ExitCode::from(2)
        }
        Err(Failure::Run(error)) => {
            tracing::error!(error = format!("{error:#}"), "{program} failed");
            eprintln!("{program}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
