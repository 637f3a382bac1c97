//! What a target group requests: one path or URL, a list of them, or a file of them (one a line),
//! picked in turn or at random with a fixed seed. Every request of a group goes to one address,
//! which must be on this machine unless the run allows otherwise: load tests send traffic to
//! loopback only.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use hyper::Uri;
use hyper::header::HeaderValue;
use hyper::http::uri::{Authority, PathAndQuery};

/// Where one entry of a group comes from, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path (`/courses?page=2`, sent to the base URL) or a whole `http://` URL.
    One(String),
    /// A file of paths or URLs, one a line; blank lines and lines starting with `#` are skipped.
    File(PathBuf),
}

/// A named group of requests, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    pub name: String,
    pub sources: Vec<Source>,
}

/// The server a group's connections go to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub address: SocketAddr,
    /// The `Host` header: the authority as written (`127.0.0.1:8080`).
    pub host: HeaderValue,
}

/// A group ready to run: its server and the requests it cycles through.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub endpoint: Endpoint,
    /// Paths with their query (origin form), in the order given.
    pub paths: Vec<Uri>,
}

/// How a group with several paths picks the one for its request number `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// In turn: `i mod n`.
    Cycle,
    /// At random, the same sequence for the same seed (a function of the seed and `i` alone, so
    /// it does not depend on which connection sends the request).
    Random { seed: u64 },
}

impl Pick {
    pub fn index(self, i: u64, count: usize) -> usize {
        if count <= 1 {
            return 0;
        }
        let n = count as u64;
        let chosen = match self {
            Pick::Cycle => i % n,
            // splitmix64 of the seed and the number: well spread, and cheap enough per request
            Pick::Random { seed } => splitmix64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % n,
        };
        chosen as usize
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Reads a group's sources and checks its address: `base` is where paths go (`http://host:port`).
pub fn resolve(spec: &GroupSpec, base: &str, allow_remote: bool) -> Result<Group, String> {
    let base_authority = parse_base(base)?;
    let mut entries: Vec<(String, String)> = Vec::new();
    for source in &spec.sources {
        match source {
            Source::One(entry) => entries.push((entry.clone(), format!("{entry:?}"))),
            Source::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                let before = entries.len();
                for (number, line) in text.lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    entries.push((
                        line.to_string(),
                        format!("{}:{}", path.display(), number + 1),
                    ));
                }
                if entries.len() == before {
                    return Err(format!("{} has no path or URL in it", path.display()));
                }
            }
        }
    }
    if entries.is_empty() {
        return Err(format!("target {:?} has nothing to request", spec.name));
    }
    let mut authority: Option<Authority> = None;
    let mut paths = Vec::with_capacity(entries.len());
    for (entry, place) in &entries {
        let (entry_authority, path) =
            parse_entry(entry, &base_authority).map_err(|error| format!("{place}: {error}"))?;
        match &authority {
            None => authority = Some(entry_authority),
            Some(first) if *first == entry_authority => {}
            Some(first) => {
                return Err(format!(
                    "{place}: {entry_authority} is another server than {first}: a target's requests all go to one server (make another --target)"
                ));
            }
        }
        paths.push(Uri::from(path));
    }
    let Some(authority) = authority else {
        return Err(format!("target {:?} has nothing to request", spec.name));
    };
    Ok(Group {
        name: spec.name.clone(),
        endpoint: endpoint(&authority, allow_remote)?,
        paths,
    })
}

/// `http://host[:port]` with nothing after it but an optional `/`.
fn parse_base(base: &str) -> Result<Authority, String> {
    let uri: Uri = base
        .parse()
        .map_err(|error| format!("--base {base:?} is not a URL: {error}"))?;
    let authority = http_authority(&uri).map_err(|error| format!("--base {base:?}: {error}"))?;
    match uri.path_and_query().map(PathAndQuery::as_str) {
        None | Some("/") => Ok(authority),
        Some(_) => Err(format!(
            "--base {base:?} has a path: give only http://host:port, and paths in the targets"
        )),
    }
}

/// A path (to the base's server) or a whole URL: its server and its path with query.
fn parse_entry(entry: &str, base: &Authority) -> Result<(Authority, PathAndQuery), String> {
    if entry.starts_with('/') {
        let path: PathAndQuery = entry
            .parse()
            .map_err(|error| format!("{entry:?} is not a valid path and query: {error}"))?;
        return Ok((base.clone(), path));
    }
    let neither = || format!("{entry:?} is neither a path (/…) nor an http:// URL");
    let uri: Uri = entry
        .parse()
        .map_err(|error| format!("{}: {error}", neither()))?;
    if uri.scheme().is_none() {
        return Err(neither());
    }
    let authority = http_authority(&uri).map_err(|error| format!("{entry:?}: {error}"))?;
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Ok((authority, path))
}

fn http_authority(uri: &Uri) -> Result<Authority, String> {
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "https is not supported: load tests run over loopback, in plain HTTP".into(),
            );
        }
        _ => return Err("expected an http:// URL".into()),
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| "the URL names no host".to_string())?;
    if authority.as_str().contains('@') {
        return Err("user information in a URL is not supported".into());
    }
    Ok(authority)
}

/// The address `authority` resolves to, refused unless every address it resolves to is loopback
/// (or `allow_remote`).
fn endpoint(authority: &Authority, allow_remote: bool) -> Result<Endpoint, String> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve {host}: {error}"))?
            .collect(),
    };
    let Some(first) = addresses.first().copied() else {
        return Err(format!("{host} resolves to no address"));
    };
    if !allow_remote
        && let Some(remote) = addresses.iter().find(|address| !address.ip().is_loopback())
    {
        return Err(format!(
            "{authority} is not on this machine ({} is not a loopback address): load tests send traffic to loopback only; --allow-remote overrides this",
            remote.ip()
        ));
    }
    let host = HeaderValue::from_str(authority.as_str())
        .map_err(|error| format!("{authority} cannot be a Host header: {error}"))?;
    Ok(Endpoint {
        address: first,
        host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(sources: Vec<Source>) -> GroupSpec {
        GroupSpec {
            name: "t".into(),
            sources,
        }
    }

    fn one(entry: &str) -> Source {
        Source::One(entry.into())
    }

    #[test]
    fn paths_go_to_the_base_and_urls_to_their_server() {
        let resolved = resolve(
            &group(vec![
                one("/courses?q=rust&page=2"),
                one("http://127.0.0.1:9000/healthz"),
            ]),
            "http://127.0.0.1:9000",
            false,
        )
        .expect("both on 127.0.0.1:9000");
        assert_eq!(
            resolved.endpoint.address,
            "127.0.0.1:9000".parse().expect("address")
        );
        assert_eq!(resolved.endpoint.host, "127.0.0.1:9000");
        assert_eq!(resolved.paths[0].to_string(), "/courses?q=rust&page=2");
        assert_eq!(resolved.paths[1].to_string(), "/healthz");

        let ipv6 = resolve(
            &group(vec![one("http://[::1]:8080/")]),
            "http://127.0.0.1",
            false,
        )
        .expect("::1 is loopback");
        assert_eq!(
            ipv6.endpoint.address,
            "[::1]:8080".parse().expect("address")
        );
        let default_port =
            resolve(&group(vec![one("/")]), "http://127.0.0.1/", false).expect("port 80");
        assert_eq!(default_port.endpoint.address.port(), 80);
    }

    #[test]
    fn another_machine_is_refused_unless_allowed() {
        let error = resolve(
            &group(vec![one("http://10.1.2.3:8080/")]),
            "http://127.0.0.1",
            false,
        )
        .expect_err("not loopback");
        assert!(error.contains("loopback only"), "{error}");
        let allowed = resolve(
            &group(vec![one("http://10.1.2.3:8080/")]),
            "http://127.0.0.1",
            true,
        )
        .expect("allowed");
        assert_eq!(
            allowed.endpoint.address,
            "10.1.2.3:8080".parse().expect("address")
        );
        // the base is checked the same way
        assert!(
            resolve(&group(vec![one("/x")]), "http://192.168.0.1:80", false)
                .expect_err("not loopback")
                .contains("loopback only")
        );
    }

    #[test]
    fn what_cannot_be_sent_is_refused_with_its_place() {
        for (entries, base, expected) in [
            (
                vec!["https://127.0.0.1/"],
                "http://127.0.0.1",
                "https is not supported",
            ),
            (vec!["courses"], "http://127.0.0.1", "neither a path"),
            (vec!["/a b"], "http://127.0.0.1", "not a valid path"),
            (vec!["/"], "http://127.0.0.1/prefix", "has a path"),
            (
                vec!["/", "http://127.0.0.1:81/"],
                "http://127.0.0.1:80",
                "another server",
            ),
            (
                vec!["http://u:p@127.0.0.1/"],
                "http://127.0.0.1",
                "user information",
            ),
        ] {
            let error = resolve(&group(entries.into_iter().map(one).collect()), base, false)
                .expect_err("refused");
            assert!(error.contains(expected), "{error}");
        }
        assert!(
            resolve(&group(vec![]), "http://127.0.0.1", false)
                .expect_err("empty")
                .contains("nothing to request")
        );
    }

    #[test]
    fn a_file_gives_one_request_a_line() {
        let dir = std::env::temp_dir().join(format!("loadgen-target-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("paths");
        std::fs::write(
            &file,
            "# searches\n/courses?q=rust\n\n  /courses?page=3  \nnot a path\n",
        )
        .expect("write");
        let error = resolve(
            &group(vec![Source::File(file.clone())]),
            "http://127.0.0.1",
            false,
        )
        .expect_err("line 5 is wrong");
        assert!(
            error.starts_with(&format!("{}:5: ", file.display()))
                && error.contains("neither a path"),
            "{error}"
        );
        std::fs::write(
            &file,
            "# searches\n/courses?q=rust\n\n  /courses?page=3  \n",
        )
        .expect("write");
        let resolved = resolve(
            &group(vec![Source::File(file.clone())]),
            "http://127.0.0.1",
            false,
        )
        .expect("two paths");
        let paths: Vec<String> = resolved.paths.iter().map(Uri::to_string).collect();
        assert_eq!(paths, ["/courses?q=rust", "/courses?page=3"]);
        std::fs::write(&file, "# nothing\n").expect("write");
        assert!(
            resolve(&group(vec![Source::File(file)]), "http://127.0.0.1", false)
                .expect_err("empty file")
                .contains("no path or URL")
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn picking_cycles_or_follows_the_seed() {
        let cycled: Vec<usize> = (0..7).map(|i| Pick::Cycle.index(i, 3)).collect();
        assert_eq!(cycled, [0, 1, 2, 0, 1, 2, 0]);
        let random = Pick::Random { seed: 7 };
        let first: Vec<usize> = (0..1000).map(|i| random.index(i, 10_000)).collect();
        let again: Vec<usize> = (0..1000).map(|i| random.index(i, 10_000)).collect();
        assert_eq!(first, again, "the same seed picks the same sequence");
        let other: Vec<usize> = (0..1000)
            .map(|i| Pick::Random { seed: 8 }.index(i, 10_000))
            .collect();
        assert_ne!(first, other);
        // spread over the whole list: 1,000 picks of 10,000 paths hit many distinct ones
        let mut distinct = first.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 900, "{}", distinct.len());
        assert!(first.iter().all(|&index| index < 10_000));
        assert_eq!(random.index(5, 1), 0);
    }
}
