//! `courseshop`: the web shop, and the commands that prepare its database.
//!
//! ```text
//! courseshop [serve] [--migrate]   run the shop (the default); --migrate applies pending
//!                                  migrations first, so a new revision migrates before it serves
//! courseshop migrate               apply pending database migrations, then exit
//! courseshop seed [--courses N] [--demo-accounts | --no-demo-accounts]
//!                                  load the demo catalog (idempotent), then exit; the demo accounts
//!                                  (known password) are seeded by default except in production
//! courseshop services              list the services the configured step needs, one a line
//! courseshop healthcheck           exit 0 when this machine's shop answers /healthz (containers)
//! courseshop carts migrate [--dry-run | --verify | --finish] [--concurrency N] [--batch N]
//!                                  copy the carts steps 0-1 kept in PostgreSQL into Cosmos DB
//!                                  (step 2; tutorial 02), check them, or empty PostgreSQL's copy
//! ```

mod carts;

use std::process::ExitCode;

use anyhow::Context;

use app::startup::Application;
use app::telemetry;
use shop::accounts::demo;
use shop::cart::migration::MigrationOptions;
use shop::catalog::seed;
use shop::command::{Failure, exit_code, from_args};
use shop::database;
use shop::healthcheck;
use shop::settings::{self, DatabaseSettings, Env, Settings};

const USAGE: &str = "usage: courseshop [serve [--migrate] | migrate | \
                     seed [--courses N] [--demo-accounts | --no-demo-accounts] | services | healthcheck | \
                     carts migrate [--dry-run | --verify | --finish] [--concurrency N] [--batch N]]";

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve { migrate: bool },
    Migrate,
    Seed(SeedOptions),
    Services,
    Healthcheck,
    Carts(CartsOptions),
}

/// `courseshop carts migrate`: what to do with the carts PostgreSQL still holds.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum CartsMode {
    Migrate { dry_run: bool },
    Verify,
    Finish,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct CartsOptions {
    mode: CartsMode,
    concurrency: usize,
    batch: u32,
}

#[derive(Debug, PartialEq, Eq)]
struct SeedOptions {
    courses: u32,
    /// `None`: the environment decides (yes in development, no in production).
    demo_accounts: Option<bool>,
}

fn parse_command(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        [] | ["serve"] => Ok(Command::Serve { migrate: false }),
        ["serve", "--migrate"] => Ok(Command::Serve { migrate: true }),
        ["migrate"] => Ok(Command::Migrate),
        ["services"] => Ok(Command::Services),
        ["healthcheck"] => Ok(Command::Healthcheck),
        ["seed", flags @ ..] => parse_seed(flags).map(Command::Seed),
        ["carts", "migrate", flags @ ..] => parse_carts(flags).map(Command::Carts),
        _ => Err(USAGE.to_string()),
    }
}

fn parse_seed(mut flags: &[&str]) -> Result<SeedOptions, String> {
    let mut options = SeedOptions {
        courses: seed::DEFAULT_COURSES,
        demo_accounts: None,
    };
    loop {
        flags = match flags {
            [] => return Ok(options),
            ["--courses", count, rest @ ..] => {
                options.courses = count
                    .parse()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or_else(|| {
                        format!("--courses takes a number from 1 to 1000000, not {count:?}")
                    })?;
                rest
            }
            ["--demo-accounts", rest @ ..] if options.demo_accounts.is_none() => {
                options.demo_accounts = Some(true);
                rest
            }
            ["--no-demo-accounts", rest @ ..] if options.demo_accounts.is_none() => {
                options.demo_accounts = Some(false);
                rest
            }
            _ => return Err(USAGE.to_string()),
        }
    }
}

fn parse_carts(mut flags: &[&str]) -> Result<CartsOptions, String> {
    let defaults = MigrationOptions::default();
    let mut options = CartsOptions {
        mode: CartsMode::Migrate { dry_run: false },
        concurrency: defaults.concurrency,
        batch: defaults.batch,
    };
    let mut mode_given = false;
    let number = |flag: &str, value: &str, most: u32| {
        value
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=most).contains(n))
            .ok_or_else(|| format!("{flag} takes a number from 1 to {most}, not {value:?}"))
    };
    loop {
        flags = match flags {
            [] => return Ok(options),
            [mode @ ("--dry-run" | "--verify" | "--finish"), rest @ ..] if !mode_given => {
                mode_given = true;
                options.mode = match *mode {
                    "--dry-run" => CartsMode::Migrate { dry_run: true },
                    "--verify" => CartsMode::Verify,
                    _ => CartsMode::Finish,
                };
                rest
            }
            ["--concurrency", value, rest @ ..] => {
                options.concurrency = number("--concurrency", value, 256)? as usize;
                rest
            }
            ["--batch", value, rest @ ..] => {
                options.batch = number("--batch", value, 10_000)?;
                rest
            }
            _ => return Err(USAGE.to_string()),
        }
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
        Command::Serve { migrate } => serve(migrate).await,
        Command::Migrate => migrate().await,
        Command::Seed(options) => seed_demo(options).await,
        Command::Healthcheck => check_health().await,
        Command::Carts(options) => carts::migrate(options).await,
    };
    exit_code("courseshop", outcome)
}

/// Needs only the topology: `./scripts/run` asks before it has started those services.
fn services() -> Result<(), Failure> {
    println!("{}", services_list(&Env::from_process())?);
    Ok(())
}

/// The services, one a line (at step 5 also `replica`, `pgbouncer` and `haproxy`, which
/// `./scripts/run` starts only when it sees them here).
fn services_list(env: &Env<'_>) -> Result<String, settings::SettingsError> {
    Ok(Settings::topology_from_env(env)?.services().join("\n"))
}

async fn serve(migrate_first: bool) -> Result<(), Failure> {
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format);
    if migrate_first {
        apply_migrations(&settings.database).await?;
    }
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
    let (database, log_format, _) = Settings::for_database_commands(&Env::from_process())?;
    telemetry::init(log_format);
    apply_migrations(&database).await
}

/// Straight to the server when `DATABASE_DIRECT_URL` says how: the migrator holds a session-level
/// lock (so replicas starting together take turns), which a transaction pooler cannot keep.
async fn apply_migrations(database: &DatabaseSettings) -> Result<(), Failure> {
    let pool = database::connect_lazily(&DatabaseSettings {
        max_connections: 1,
        ..database.direct()
    });
    database::MIGRATOR
        .run(&pool)
        .await
        .context("migrating the database failed")?;
    pool.close().await;
    tracing::info!("the database schema is up to date");
    Ok(())
}

async fn check_health() -> Result<(), Failure> {
    let address = settings::own_address_from_env(&Env::from_process(), "PORT", 8080)?;
    healthcheck::check(address)
        .await
        .context("the shop is not healthy")?;
    Ok(())
}

async fn seed_demo(options: SeedOptions) -> Result<(), Failure> {
    let (database, log_format, environment) =
        Settings::for_database_commands(&Env::from_process())?;
    telemetry::init(log_format);
    let pool = database::connect_lazily(&database);
    let report = seed::seed_catalog(&pool, options.courses)
        .await
        .context("seeding the catalog failed (has `courseshop migrate` run?)")?;
    // accounts with a published password have no place on a public shop unless asked for
    if options
        .demo_accounts
        .unwrap_or(!environment.is_production())
    {
        let demo = demo::seed_demo_accounts(&pool)
            .await
            .context("seeding the demo accounts failed")?;
        tracing::info!(
            demo_passwords_set = demo.passwords_set,
            demo_orders_added = demo.orders_added,
            "demo accounts ready: {} and {} (password {})",
            demo::DEMO_STUDENT,
            demo::DEMO_INSTRUCTOR,
            demo::DEMO_PASSWORD
        );
    } else {
        tracing::info!("no demo accounts seeded (SHOP_ENV=production; --demo-accounts adds them)");
    }
    tracing::info!(
        categories_added = report.categories_added,
        instructors_added = report.instructors_added,
        courses_added = report.courses_added,
        courses_total = report.courses_total,
        "catalog seeded"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<Command, String> {
        let args: Vec<String> = list.iter().map(|arg| arg.to_string()).collect();
        parse_command(&args)
    }

    #[test]
    fn commands_and_their_flags() {
        assert_eq!(parse(&[]), Ok(Command::Serve { migrate: false }));
        assert_eq!(parse(&["serve"]), Ok(Command::Serve { migrate: false }));
        assert_eq!(
            parse(&["serve", "--migrate"]),
            Ok(Command::Serve { migrate: true })
        );
        assert_eq!(parse(&["healthcheck"]), Ok(Command::Healthcheck));
        assert_eq!(parse(&["services"]), Ok(Command::Services));
        assert_eq!(
            parse(&["seed"]),
            Ok(Command::Seed(SeedOptions {
                courses: seed::DEFAULT_COURSES,
                demo_accounts: None
            }))
        );
        assert_eq!(
            parse(&["seed", "--no-demo-accounts", "--courses", "20"]),
            Ok(Command::Seed(SeedOptions {
                courses: 20,
                demo_accounts: Some(false)
            }))
        );
        assert_eq!(
            parse(&["seed", "--courses", "5", "--demo-accounts"]),
            Ok(Command::Seed(SeedOptions {
                courses: 5,
                demo_accounts: Some(true)
            }))
        );
    }

    #[test]
    fn a_wrong_command_line_says_why() {
        for wrong in [
            &["serve", "--migrate", "now"][..],
            &["seed", "--courses"],
            &["seed", "--demo-accounts", "--no-demo-accounts"],
            &["seed", "--colors", "3"],
            &["healthcheck", "8080"],
            &["services", "5"],
        ] {
            assert_eq!(parse(wrong), Err(USAGE.to_string()), "{wrong:?}");
        }
        let error = parse(&["seed", "--courses", "0"]).expect_err("must fail");
        assert!(error.starts_with("--courses takes a number"), "{error}");
    }

    fn services_at(pairs: &'static [(&'static str, &'static str)]) -> Result<String, String> {
        services_list(&Env::from_lookup(|variable| {
            pairs
                .iter()
                .find(|(name, _)| *name == variable)
                .map(|(_, value)| value.to_string())
        }))
        .map_err(|error| error.to_string())
    }

    #[test]
    fn services_adds_the_scale_out_stack_only_at_step_5() {
        assert_eq!(
            services_at(&[("SHOP_STEP", "4")]).as_deref(),
            Ok("postgres\ncosmos\nredis\nrabbitmq")
        );
        assert_eq!(
            services_at(&[("SHOP_STEP", "5")]).as_deref(),
            Ok("postgres\ncosmos\nredis\nrabbitmq\nreplica\npgbouncer\nhaproxy")
        );
        assert_eq!(
            services_at(&[("SHOP_STEP", "5"), ("CART_STORE", "postgres")]).as_deref(),
            Ok("postgres\nredis\nrabbitmq\nreplica\npgbouncer\nhaproxy")
        );
        assert_eq!(
            services_at(&[("SHOP_STEP", "6")]),
            Err("SHOP_STEP=\"6\" is not valid: expected a tutorial step from 0 to 5".to_string())
        );
    }

    #[test]
    fn carts_migrate_takes_one_mode_and_bounded_numbers() {
        let defaults = MigrationOptions::default();
        assert_eq!(
            parse(&["carts", "migrate"]),
            Ok(Command::Carts(CartsOptions {
                mode: CartsMode::Migrate { dry_run: false },
                concurrency: defaults.concurrency,
                batch: defaults.batch,
            }))
        );
        assert_eq!(
            parse(&[
                "carts",
                "migrate",
                "--finish",
                "--concurrency",
                "4",
                "--batch",
                "50"
            ]),
            Ok(Command::Carts(CartsOptions {
                mode: CartsMode::Finish,
                concurrency: 4,
                batch: 50,
            }))
        );
        for refused in [
            &["carts", "migrate", "--dry-run", "--finish"][..],
            &["carts", "migrate", "--concurrency", "0"],
            &["carts", "migrate", "--concurrency", "257"],
            &["carts", "migrate", "--batch", "-1"],
            &["carts", "migrate", "--batch", "5\u{0}"],
            &["carts", "migrate", "--batch"],
            &["carts", "migrate", "--everything"],
            &["carts"],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }
}
