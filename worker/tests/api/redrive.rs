//! `enrollment-worker redrive`: the library call and the command's exit statuses.

use std::process::Command;

use lapin::BasicProperties;
use shop::events::broker::{DEAD_LETTER_REASON_HEADER, with_attempt, with_text_header};

use crate::helpers::*;

async fn dead_letter(rabbit: &TestRabbit, id: &str) {
    let headers = with_text_header(
        Some(&with_attempt(None, 4)),
        DEAD_LETTER_REASON_HEADER,
        "gave up after 4 attempts: the database is unavailable",
    );
    rabbit
        .publish_to_queue(
            &rabbit.names().dead_letter_queue(),
            id.as_bytes(),
            BasicProperties::default()
                .with_message_id(id.into())
                .with_headers(headers),
        )
        .await;
}

#[tokio::test]
async fn redrive_moves_as_many_dead_letters_as_asked_in_order() {
    let rabbit = TestRabbit::new();
    for id in ["a", "b", "c"] {
        dead_letter(&rabbit, id).await;
    }
    let names = rabbit.names();

    assert_eq!(
        worker::redrive(&rabbit.settings(), Some(2))
            .await
            .expect("redrive"),
        2
    );
    assert_eq!(rabbit.message_count(&names.dead_letter_queue()).await, 1);
    assert_eq!(rabbit.message_count(&names.queue()).await, 2);
    assert_eq!(
        worker::redrive(&rabbit.settings(), None)
            .await
            .expect("redrive"),
        1
    );
    assert_eq!(
        worker::redrive(&rabbit.settings(), None)
            .await
            .expect("redrive"),
        0
    );

    let mut ids = Vec::new();
    while let Some(message) = rabbit.get(&names.queue()).await {
        assert_eq!(message.attempt(), 1);
        assert_eq!(message.header(DEAD_LETTER_REASON_HEADER), None);
        assert!(message.is_persistent());
        ids.push(message.message_id().unwrap_or_default());
    }
    assert_eq!(ids, ["a", "b", "c"]);
}

#[tokio::test]
async fn redrive_says_so_when_rabbitmq_is_unreachable() {
    let rabbit = TestRabbit::new();
    let proxy = TcpProxy::start(&TestRabbit::upstream()).await;
    proxy.cut();
    let error = worker::redrive(&rabbit.behind(&proxy).settings(), None)
        .await
        .expect_err("nothing to talk to");
    assert!(
        format!("{error:#}").starts_with("cannot reach RabbitMQ"),
        "{error:#}"
    );
}

/// Runs the binary to its end, off the test's runtime, which meanwhile drives the proxies.
async fn command(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(key, value)| (key.to_string(), value.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_enrollment-worker"))
            .args(args)
            .envs(env)
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the command's thread")
}

#[tokio::test]
async fn the_redrive_command_reports_and_uses_exit_statuses() {
    let rabbit = TestRabbit::new();
    dead_letter(&rabbit, "a").await;
    let database_url = "postgres://postgres@127.0.0.1:5432/unused".to_string();
    let env = process_env(&database_url, &rabbit);

    let output = command(&["redrive", "--limit", "5"], &env).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).lines().last(),
        Some("moved 1 dead-lettered message(s) back to the queue")
    );

    let output = command(&["redrive", "--limit", "none"], &env).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--limit takes a number"));
    assert_eq!(command(&["sideways"], &env).await.status.code(), Some(2));

    let mut bad_settings = env.clone();
    bad_settings.push(("ENROLLMENT_RETRY_DELAYS_MS", "soon".to_string()));
    let output = command(&["redrive"], &bad_settings).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("ENROLLMENT_RETRY_DELAYS_MS"),
        "{output:?}"
    );

    let proxy = TcpProxy::start(&TestRabbit::upstream()).await;
    proxy.cut();
    let output = command(
        &["redrive"],
        &process_env(&database_url, &rabbit.behind(&proxy)),
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot reach RabbitMQ"),
        "{output:?}"
    );
}
