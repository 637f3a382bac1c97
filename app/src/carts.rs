//! `courseshop carts migrate` (a module of the binary, not of the library): the command line around
//! `shop::cart::migration`, with progress while it runs and a table at the end.

use std::io::Write;
use std::time::Instant;

use shop::cart::migration::{CartMigration, MigrationOptions, MigrationReport};
use shop::command::Failure;
use shop::database;
use shop::settings::{Settings, SettingsError};

use crate::{CartsMode, CartsOptions, telemetry};

pub async fn migrate(options: CartsOptions) -> Result<(), Failure> {
    let settings = Settings::from_env()?;
    telemetry::init(settings.log_format);
    let cosmos = settings.cosmos.clone().ok_or(SettingsError::Missing {
        variable: "COSMOS_ENDPOINT",
        hint: "the carts go to Cosmos DB: set it (with COSMOS_KEY or a managed identity), at SHOP_STEP=2 or later",
    })?;
    let migration = CartMigration::new(
        database::connect_lazily(&settings.database),
        cosmos,
        MigrationOptions {
            batch: options.batch,
            concurrency: options.concurrency,
            dry_run: matches!(options.mode, CartsMode::Migrate { dry_run: true }),
        },
    );
    match options.mode {
        CartsMode::Migrate { dry_run } => {
            let started = Instant::now();
            let report = migration
                .run(|report| progress(report, started))
                .await
                .map_err(anyhow::Error::from)?;
            eprintln!();
            print_table(&report, started, dry_run);
            if report.failed > 0 {
                return Err(anyhow::anyhow!(
                    "{} carts were not migrated (Cosmos DB away or throttling): run this again, it skips what is done",
                    report.failed
                )
                .into());
            }
            Ok(())
        }
        CartsMode::Verify => {
            let differences = migration.verify().await.map_err(anyhow::Error::from)?;
            for difference in differences.iter().take(20) {
                println!(
                    "{}: {} line(s) only in PostgreSQL (courses {:?})",
                    difference.cart,
                    difference.missing.len(),
                    difference
                        .missing
                        .iter()
                        .map(|course| course.0)
                        .collect::<Vec<_>>()
                );
            }
            if differences.is_empty() {
                println!("verified: every cart line in PostgreSQL is in Cosmos DB");
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "{} carts differ: run `courseshop carts migrate` again",
                    differences.len()
                )
                .into())
            }
        }
        CartsMode::Finish => {
            let deleted = migration.finish().await.map_err(anyhow::Error::from)?;
            println!("verified, and {deleted} carts deleted from PostgreSQL");
            Ok(())
        }
    }
}

/// One line, rewritten in place: carts done of total, carts/s, time left.
fn progress(report: &MigrationReport, started: Instant) {
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let rate = report.done() as f64 / seconds;
    let left = report.total.saturating_sub(report.done()) as f64 / rate.max(0.001);
    eprint!(
        "\rcarts: {} of {} ({:.0} %), {:.0} carts/s, about {:.0} s left   ",
        report.done(),
        report.total,
        report.done() as f64 * 100.0 / (report.total.max(1) as f64),
        rate,
        left
    );
    let _ = std::io::stderr().flush();
}

fn print_table(report: &MigrationReport, started: Instant, dry_run: bool) {
    let seconds = started.elapsed().as_secs_f64();
    let would = if dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    };
    println!("carts in PostgreSQL  {:>8}{would}", report.total);
    println!("migrated             {:>8}", report.migrated);
    println!("merged               {:>8}", report.merged);
    println!("skipped              {:>8}", report.skipped);
    println!("failed               {:>8}", report.failed);
    println!("retried (of those)   {:>8}", report.retried);
    println!(
        "took {seconds:.1} s, {:.0} carts/s",
        report.done() as f64 / seconds.max(0.001)
    );
}
