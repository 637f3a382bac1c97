//! `loadgen`: see `loadgen --help` and the crate's documentation (src/lib.rs).

use std::process::ExitCode;

use loadgen::cli::{self, Command, Options, USAGE};
use loadgen::run::{Plan, run};
use loadgen::target;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match cli::parse(&args) {
        Ok(Command::Run(options)) => *options,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("loadgen: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match generate(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}

fn generate(options: Options) -> Result<(), String> {
    let groups = options
        .groups
        .iter()
        .map(|spec| target::resolve(spec, &options.base, options.allow_remote))
        .collect::<Result<Vec<_>, String>>()?;
    let plan = Plan {
        groups,
        rate: options.rate,
        connections: options.connections,
        warmup: options.warmup,
        duration: options.duration,
        timeout: options.timeout,
        pick: options.pick,
        headers: options.headers,
        watch: options.watch,
        threads: options.threads,
    };
    // one thread by default: the cheapest for the generator, and it leaves the rest of the machine
    // to what is measured
    let runtime = if options.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .enable_all()
            .build()
    }
    .map_err(|error| format!("cannot start the runtime: {error}"))?;
    let report = runtime.block_on(run(plan))?;
    let summary = report.summary();
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|error| format!("cannot write the summary as JSON: {error}"))?;
    if let Some(path) = &options.json_out {
        std::fs::write(path, format!("{json}\n"))
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    if options.json {
        println!("{json}");
    } else {
        print!("{}", summary.table());
    }
    Ok(())
}
