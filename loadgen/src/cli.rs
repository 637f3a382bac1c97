//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};

use crate::target::{GroupSpec, Pick, Source};

pub const USAGE: &str = "\
usage: loadgen --rate R [options] (--target NAME=WHAT | --url URL | --urls-file FILE)...

Sends each target R requests a second at fixed intervals, over keep-alive HTTP/1.1 connections
carrying one request at a time, and reports latency from when each request was due (so a stalled
server shows in the percentiles), for the requests due after the warm-up.

targets (at least one):
  --target NAME=WHAT   a named target; WHAT is a path (/courses, sent to --base), an http:// URL, or
                       @FILE (a file of paths or URLs, one a line; # starts a comment). Repeatable:
                       each target gets its own --rate and --connections, interleaved in one run
  --url URL            a path or URL for the target \"urls\" (repeatable)
  --urls-file FILE     paths or URLs, one a line, for the target \"urls\"
  --base URL           where paths are sent (default http://127.0.0.1:8080)
  --pick random|cycle  how a target with several paths picks one (default random)
  --seed N             the random pick's seed (default 1): the same seed, the same sequence

load:
  --rate R             requests a second for each target (required)
  --connections C      keep-alive connections for each target (default 64): at most C requests
                       of a target in flight; a request due while all are busy waits, and its wait
                       counts in its latency
  --duration D         recorded time (default 60s; D as 500ms, 60s, 2m)
  --warmup D           sent first and not recorded (default 5s)
  --timeout D          longest a request may take once sent (default 2s)
  --header 'N: V'      a header for every request (repeatable)
  --threads N          runtime threads of the generator (default 1)

output:
  --json               the summary as JSON on stdout instead of the table
  --json-out FILE      the table on stdout and the JSON into FILE
  --watch NAME=PID     also report that process's CPU share (repeatable)

  --allow-remote       allow a target that is not on this machine (refused otherwise: load tests
                       send traffic to loopback only)";

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub base: String,
    pub groups: Vec<GroupSpec>,
    pub rate: f64,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
    pub pick: Pick,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub threads: usize,
    pub json: bool,
    pub json_out: Option<PathBuf>,
    pub watch: Vec<(String, u32)>,
    pub allow_remote: bool,
}

/// What to do: run, or print the usage.
#[derive(Debug)]
pub enum Command {
    Run(Box<Options>),
    Help,
}

/// The group `--url` and `--urls-file` add to.
const URLS_GROUP: &str = "urls";

pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut base = "http://127.0.0.1:8080".to_string();
    let mut groups: Vec<GroupSpec> = Vec::new();
    let mut rate: Option<f64> = None;
    let mut connections = 64usize;
    let mut duration = Duration::from_secs(60);
    let mut warmup = Duration::from_secs(5);
    let mut timeout = Duration::from_secs(2);
    let mut random = true;
    let mut seed = 1u64;
    let mut headers = Vec::new();
    let mut threads = 1usize;
    let mut json = false;
    let mut json_out = None;
    let mut watch = Vec::new();
    let mut allow_remote = false;

    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        // --flag value, or --flag=value
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(value) => Ok(value.clone()),
                None => rest
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag {
            "-h" | "--help" => return Ok(Command::Help),
            "--json" => json = true,
            "--allow-remote" => allow_remote = true,
            "--base" => base = value()?,
            "--target" => {
                let spec = value()?;
                let (name, what) = spec
                    .split_once('=')
                    .filter(|(name, what)| !name.is_empty() && !what.is_empty())
                    .ok_or_else(|| format!("--target takes NAME=WHAT, not {spec:?}"))?;
                if name == URLS_GROUP || groups.iter().any(|group| group.name == name) {
                    return Err(format!("two targets are named {name:?}"));
                }
                let source = match what.strip_prefix('@') {
                    Some(file) => Source::File(PathBuf::from(file)),
                    None => Source::One(what.to_string()),
                };
                groups.push(GroupSpec {
                    name: name.to_string(),
                    sources: vec![source],
                });
            }
            "--url" => urls_group(&mut groups).push(Source::One(value()?)),
            "--urls-file" => urls_group(&mut groups).push(Source::File(PathBuf::from(value()?))),
            "--rate" => {
                let text = value()?;
                rate = Some(
                    text.parse::<f64>()
                        .ok()
                        .filter(|rate| rate.is_finite() && *rate > 0.0 && *rate <= 1_000_000.0)
                        .ok_or_else(|| {
                            format!("--rate takes requests a second, above 0, not {text:?}")
                        })?,
                );
            }
            "--connections" => connections = count("--connections", &value()?, 100_000)?,
            "--threads" => threads = count("--threads", &value()?, 64)?,
            "--duration" => duration = parse_duration(&value()?)?,
            "--warmup" => warmup = parse_duration(&value()?)?,
            "--timeout" => timeout = parse_duration(&value()?)?,
            "--pick" => {
                random = match value()?.as_str() {
                    "random" => true,
                    "cycle" => false,
                    other => return Err(format!("--pick takes random or cycle, not {other:?}")),
                }
            }
            "--seed" => {
                let text = value()?;
                seed = text
                    .parse()
                    .map_err(|_| format!("--seed takes a whole number, not {text:?}"))?;
            }
            "--header" => headers.push(parse_header(&value()?)?),
            "--json-out" => json_out = Some(PathBuf::from(value()?)),
            "--watch" => {
                let spec = value()?;
                let (name, pid) = spec
                    .split_once('=')
                    .and_then(|(name, pid)| Some((name, pid.parse::<u32>().ok()?)))
                    .filter(|(name, _)| !name.is_empty())
                    .ok_or_else(|| format!("--watch takes NAME=PID, not {spec:?}"))?;
                watch.push((name.to_string(), pid));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let rate = rate.ok_or("--rate is required")?;
    if groups.is_empty() {
        return Err("no target: give --target NAME=WHAT, --url or --urls-file".into());
    }
    if duration.is_zero() || timeout.is_zero() {
        return Err("--duration and --timeout must be above 0".into());
    }
    Ok(Command::Run(Box::new(Options {
        base,
        groups,
        rate,
        connections,
        duration,
        warmup,
        timeout,
        pick: if random {
            Pick::Random { seed }
        } else {
            Pick::Cycle
        },
        headers,
        threads,
        json,
        json_out,
        watch,
        allow_remote,
    })))
}

fn urls_group(groups: &mut Vec<GroupSpec>) -> &mut Vec<Source> {
    let index = match groups.iter().position(|group| group.name == URLS_GROUP) {
        Some(index) => index,
        None => {
            groups.push(GroupSpec {
                name: URLS_GROUP.to_string(),
                sources: Vec::new(),
            });
            groups.len() - 1
        }
    };
    &mut groups[index].sources
}

fn count(flag: &str, text: &str, most: usize) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=most).contains(n))
        .ok_or_else(|| format!("{flag} takes a number from 1 to {most}, not {text:?}"))
}

/// `500ms`, `60s`, `1.5s`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let wrong = || format!("{text:?} is not a duration (such as 500ms, 60s, 2m)");
    let (number, unit_seconds) = if let Some(number) = text.strip_suffix("ms") {
        (number, 0.001)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('m') {
        (number, 60.0)
    } else if let Some(number) = text.strip_suffix('h') {
        (number, 3600.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.parse().map_err(|_| wrong())?;
    let seconds = value * unit_seconds;
    if !seconds.is_finite() || !(0.0..=86_400.0).contains(&seconds) {
        return Err(wrong());
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let wrong = |why: String| format!("--header {text:?}: {why}");
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| wrong("expected 'Name: value'".into()))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|error| wrong(format!("not a header name ({error})")))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|error| wrong(format!("not a header value ({error})")))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    fn options(list: &[&str]) -> Options {
        match parse(&args(list)) {
            Ok(Command::Run(options)) => *options,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    #[test]
    fn a_run_with_two_named_targets() {
        let parsed = options(&[
            "--rate",
            "2600",
            "--connections=256",
            "--duration",
            "60s",
            "--warmup",
            "5s",
            "--target",
            "courses=/courses",
            "--target",
            "healthz=/healthz",
            "--header",
            "Accept-Encoding: gzip",
            "--watch",
            "shop=4242",
            "--json",
        ]);
        assert_eq!(parsed.rate, 2600.0);
        assert_eq!(parsed.connections, 256);
        assert_eq!(
            (parsed.duration, parsed.warmup),
            (Duration::from_secs(60), Duration::from_secs(5))
        );
        let names: Vec<&str> = parsed.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["courses", "healthz"]);
        assert_eq!(parsed.groups[0].sources, [Source::One("/courses".into())]);
        assert_eq!(parsed.headers[0].0, "accept-encoding");
        assert_eq!(parsed.watch, [("shop".to_string(), 4242)]);
        assert_eq!(parsed.pick, Pick::Random { seed: 1 });
        assert!(parsed.json && !parsed.allow_remote);
    }

    #[test]
    fn urls_and_files_make_one_target() {
        let parsed = options(&[
            "--rate",
            "200",
            "--urls-file",
            "search.txt",
            "--url",
            "/courses",
            "--pick",
            "cycle",
        ]);
        assert_eq!(parsed.groups.len(), 1);
        assert_eq!(
            parsed.groups[0].sources,
            [
                Source::File("search.txt".into()),
                Source::One("/courses".into())
            ]
        );
        assert_eq!(parsed.pick, Pick::Cycle);
        let file = options(&[
            "--rate",
            "1",
            "--target",
            "search=@paths.txt",
            "--seed",
            "9",
        ]);
        assert_eq!(file.groups[0].sources, [Source::File("paths.txt".into())]);
        assert_eq!(file.pick, Pick::Random { seed: 9 });
    }

    #[test]
    fn a_wrong_command_line_says_what_is_wrong() {
        for (list, expected) in [
            (&["--target", "a=/"][..], "--rate is required"),
            (&["--rate", "10"], "no target"),
            (&["--rate", "0", "--url", "/"], "--rate takes"),
            (&["--rate", "fast", "--url", "/"], "--rate takes"),
            (&["--rate", "1", "--url"], "--url needs a value"),
            (&["--rate", "1", "--target", "nameless"], "NAME=WHAT"),
            (
                &["--rate", "1", "--target", "a=/", "--target", "a=/x"],
                "two targets",
            ),
            (
                &["--rate", "1", "--url", "/", "--connections", "0"],
                "--connections takes",
            ),
            (
                &["--rate", "1", "--url", "/", "--duration", "soon"],
                "not a duration",
            ),
            (
                &["--rate", "1", "--url", "/", "--header", "nocolon"],
                "Name: value",
            ),
            (
                &["--rate", "1", "--url", "/", "--pick", "best"],
                "random or cycle",
            ),
            (
                &["--rate", "1", "--url", "/", "--watch", "shop=me"],
                "NAME=PID",
            ),
            (&["--rate", "1", "--url", "/", "--fast"], "unknown argument"),
        ] {
            let error = parse(&args(list)).expect_err("refused");
            assert!(error.contains(expected), "{list:?}: {error}");
        }
        assert!(matches!(parse(&args(&["--help"])), Ok(Command::Help)));
    }

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for wrong in ["", "s", "-1s", "1d", "NaNs", "100000h"] {
            assert!(parse_duration(wrong).is_err(), "{wrong}");
        }
    }
}
