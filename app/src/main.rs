//! `courseshop`: the web shop, and the commands that prepare its database.
//!
//! ```text
//! courseshop [serve]               run the shop (the default)
//! courseshop migrate               apply pending database migrations, then exit
//! courseshop seed [--courses N]    load the demo catalog (idempotent), then exit
//! ```

use std::process::ExitCode;

use anyhow::Context;

use app::startup::Application;
use app::telemetry;
use shop::catalog::seed;
use shop::database;
use shop::settings::Settings;

const USAGE: &str = "usage: courseshop [serve | migrate | seed [--courses N]]";

enum Command {
    Serve,
    Migrate,
    Seed { courses: u32 },
}

fn parse_command(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Serve),
        [command] if command == "serve" => Ok(Command::Serve),
        [command] if command == "migrate" => Ok(Command::Migrate),
        [command] if command == "seed" => Ok(Command::Seed {
            courses: seed::DEFAULT_COURSES,
        }),
        [command, flag, count] if command == "seed" && flag == "--courses" => count
            .parse()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .map(|courses| Command::Seed { courses })
            .ok_or_else(|| format!("--courses takes a number from 1 to 1000000, not {count:?}")),
        _ => Err(USAGE.to_string()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("-h" | "--help" | "help")
    ) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = match parse_command(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("courseshop: {message}");
            return ExitCode::from(2);
        }
    };
    // a local .env is a convenience; the real environment always wins
    let _ = dotenvy::dotenv();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("courseshop: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    match run(command, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "courseshop failed");
            eprintln!("courseshop: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let application = Application::build(&settings)
                .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
            tracing::info!(
                address = %format!("http://{}:{}", settings.host, application.port()),
                step = %settings.topology.step,
                "courseshop is serving"
            );
            application.run_until_stopped().await?;
        }
        Command::Migrate => {
            let pool = database::connect_lazily(&settings.database);
            database::MIGRATOR
                .run(&pool)
                .await
                .context("migrating the database failed")?;
            tracing::info!("the database schema is up to date");
        }
        Command::Seed { courses } => {
            let pool = database::connect_lazily(&settings.database);
            let report = seed::seed_catalog(&pool, courses)
                .await
                .context("seeding the catalog failed (has `courseshop migrate` run?)")?;
            let demo = seed::seed_demo_accounts(&pool)
                .await
                .context("seeding the demo accounts failed")?;
            tracing::info!(
                demo_passwords_set = demo.passwords_set,
                demo_orders_added = demo.orders_added,
                "demo accounts ready: {} and {} (password {})",
                seed::DEMO_STUDENT,
                seed::DEMO_INSTRUCTOR,
                seed::DEMO_PASSWORD
            );
            tracing::info!(
                categories_added = report.categories_added,
                instructors_added = report.instructors_added,
                courses_added = report.courses_added,
                courses_total = report.courses_total,
                "catalog seeded"
            );
        }
    }
    Ok(())
}
