//! `enrollment-worker`: consumes `OrderPlaced` events and enrolls (tutorial step 4).
//!
//! ```text
//! enrollment-worker [run]                 consume and enroll until SIGTERM or Ctrl-C (the default)
//! enrollment-worker redrive [--limit N]   move dead letters (all, or N) back to the queue, then exit
//! enrollment-worker healthcheck           exit 0 when this machine's worker answers /healthz
//! ```
//!
//! Exit status: 0 done, 1 failed while running (RabbitMQ unreachable for `redrive`), 2 a bad
//! argument or setting.

use std::process::ExitCode;

use anyhow::Context;

use shop::command::{Failure, exit_code, from_args};
use shop::healthcheck;
use shop::settings::{self, Env, WorkerSettings};
use worker::{Worker, telemetry};

const USAGE: &str = "usage: enrollment-worker [run | redrive [--limit N] | healthcheck]";

enum Command {
    Run,
    Redrive { limit: Option<u64> },
    Healthcheck,
}

fn parse_command(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Run),
        [command] if command == "run" => Ok(Command::Run),
        [command] if command == "redrive" => Ok(Command::Redrive { limit: None }),
        [command] if command == "healthcheck" => Ok(Command::Healthcheck),
        [command, flag, count] if command == "redrive" && flag == "--limit" => count
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .map(|limit| Command::Redrive { limit: Some(limit) })
            .ok_or_else(|| format!("--limit takes a number of messages from 1, not {count:?}")),
        _ => Err(USAGE.to_string()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let command = match from_args("enrollment-worker", USAGE, parse_command) {
        Ok(command) => command,
        Err(status) => return status,
    };
    let outcome = match command {
        Command::Run => run().await,
        Command::Redrive { limit } => redrive(limit).await,
        Command::Healthcheck => check_health().await,
    };
    exit_code("enrollment-worker", outcome)
}

async fn run() -> Result<(), Failure> {
    let settings = WorkerSettings::from_env()?;
    telemetry::init(settings.log_format);
    let worker = Worker::build(&settings).await?;
    tracing::info!(
        health_port = worker.health_port(),
        address = %format!("http://{}:{}", settings.host, worker.health_port()),
        prefetch = settings.prefetch,
        "the enrollment worker is starting"
    );
    worker
        .run_until(stop_signal())
        .await
        .context("the enrollment worker stopped with an error")?;
    Ok(())
}

async fn redrive(limit: Option<u64>) -> Result<(), Failure> {
    let (broker, log_format) = WorkerSettings::for_redrive(&Env::from_process())?;
    telemetry::init(log_format);
    let moved = worker::redrive(&broker, limit).await?;
    println!("moved {moved} dead-lettered message(s) back to the queue");
    Ok(())
}

async fn check_health() -> Result<(), Failure> {
    let address = settings::own_address_from_env(&Env::from_process(), "WORKER_PORT", 8090)?;
    healthcheck::check(address)
        .await
        .context("the enrollment worker is not healthy")?;
    Ok(())
}

/// SIGTERM (the platform stopping the container) or SIGINT (Ctrl-C).
async fn stop_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("stopping: no new messages; finishing those in hand");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn commands_and_their_mistakes() {
        assert!(matches!(parse_command(&args(&[])), Ok(Command::Run)));
        assert!(matches!(parse_command(&args(&["run"])), Ok(Command::Run)));
        assert!(matches!(
            parse_command(&args(&["healthcheck"])),
            Ok(Command::Healthcheck)
        ));
        assert!(matches!(
            parse_command(&args(&["redrive"])),
            Ok(Command::Redrive { limit: None })
        ));
        assert!(matches!(
            parse_command(&args(&["redrive", "--limit", "5"])),
            Ok(Command::Redrive { limit: Some(5) })
        ));
        for wrong in [
            &["redrive", "--limit", "0"][..],
            &["redrive", "--limit", "many"],
            &["redrive", "--limit"],
            &["serve"],
        ] {
            assert!(parse_command(&args(wrong)).is_err(), "{wrong:?}");
        }
    }
}
