//! `courseshop`: the web shop, and the commands that prepare its database.
//!
//! ```text
//! courseshop [serve]               run the shop (the default)
//! courseshop migrate               apply pending database migrations, then exit
//! courseshop seed [--courses N]    load the demo catalog (idempotent), then exit
//! courseshop services              list the services the configured step needs, one a line
//! ```

use std::process::ExitCode;

use anyhow::Context;

use app::startup::Application;
use app::telemetry;
use shop::catalog::seed;
use shop::command::{Failure, exit_code, from_args};
use shop::database;
use shop::settings::Settings;

const USAGE: &str = "usage: courseshop [serve | migrate | seed [--courses N] | services]";

enum Command {
    Serve,
    Migrate,
    Seed { courses: u32 },
    Services,
}

fn parse_command(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Serve),
        [command] if command == "serve" => Ok(Command::Serve),
        [command] if command == "migrate" => Ok(Command::Migrate),
        [command] if command == "services" => Ok(Command::Services),
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
    let command = match from_args("courseshop", USAGE, parse_command) {
        Ok(command) => command,
        Err(status) => return status,
    };
    let outcome = match command {
        Command::Services => services(),
        Command::Serve => serve().await,
        Command::Migrate => migrate().await,
        Command::Seed { courses } => seed_demo(courses).await,
    };
    exit_code("courseshop", outcome)
}

/// Needs only the topology: `./scripts/run` asks before it has started those services.
fn services() -> Result<(), Failure> {
    let topology = Settings::topology_from_env()?;
    println!("{}", topology.services().join("\n"));
    Ok(())
}

async fn serve() -> Result<(), Failure> {
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format);
    let application = Application::build(&settings).await?;
    tracing::info!(
        address = %format!("http://{}:{}", settings.host, application.port()),
        step = %settings.topology.step,
        "courseshop is serving"
    );
    application
        .run_until_stopped()
        .await
        .context("the web server stopped with an error")?;
    Ok(())
}

async fn migrate() -> Result<(), Failure> {
    let (database, log_format) = Settings::for_database_commands()?;
    telemetry::init(log_format);
    let pool = database::connect_lazily(&database);
    database::MIGRATOR
        .run(&pool)
        .await
        .context("migrating the database failed")?;
    tracing::info!("the database schema is up to date");
    Ok(())
}

async fn seed_demo(courses: u32) -> Result<(), Failure> {
    let (database, log_format) = Settings::for_database_commands()?;
    telemetry::init(log_format);
    let pool = database::connect_lazily(&database);
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
    Ok(())
}
