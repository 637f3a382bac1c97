//! A raw HTTP/1.1 client: requests written byte for byte (a path `reqwest` would normalise, bytes
//! no client library lets through, headers HTTP refuses), answers read until the server closes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::probe::Reply;

/// No answer at all (the connection closed or timed out): reported as status 0, which no check
/// accepts, so a server that drops a request is seen.
pub fn no_answer(why: &str) -> Reply {
    Reply {
        status: 0,
        headers: Vec::new(),
        body: format!("no answer: {why}"),
    }
}

/// One HTTP/1.1 request over a fresh connection, written exactly as given (`target` may hold any
/// byte), read until the server closes it.
pub async fn raw(
    address: &str,
    method: &str,
    target: &[u8],
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Reply {
    let host = address.trim_start_matches("http://");
    let mut request = Vec::new();
    request.extend_from_slice(method.as_bytes());
    request.push(b' ');
    request.extend_from_slice(target);
    let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    request.extend_from_slice(b" HTTP/1.1\r\nconnection: close\r\n");
    if !given("host") {
        request.extend_from_slice(format!("host: {host}\r\n").as_bytes());
    }
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() && !given("transfer-encoding") && !given("content-length") {
        request.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(host).await?;
        stream.write_all(&request).await?;
        let mut answer = Vec::new();
        // a server that answers before reading everything may reset the connection: keep what came
        let _ = stream.read_to_end(&mut answer).await;
        Ok::<_, std::io::Error>(answer)
    };
    match tokio::time::timeout(Duration::from_secs(30), exchange).await {
        Ok(Ok(answer)) => parse_answer(&answer),
        Ok(Err(error)) => no_answer(&error.to_string()),
        Err(_) => no_answer("timed out"),
    }
}

fn parse_answer(answer: &[u8]) -> Reply {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return no_answer(&format!(
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(answer)
        ));
    };
    let head = String::from_utf8_lossy(&answer[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut body = answer[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        rest = &rest[line_end + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}
