//! Logs: `tracing` everywhere (set up by `shop::telemetry`), one span per request, and a "request
//! completed" line with its latency.

use std::time::Instant;

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use shop::settings::LogFormat;

/// The shop's logs and statement counter (`shop::telemetry`). `RUST_LOG` filters the logs as usual
/// (default: info, quieter libraries).
pub fn init(format: LogFormat) {
    shop::telemetry::init(format, "info,sqlx=warn,actix_server=warn");
}

/// The root span of every request (tracing-actix-web's, with a request id), plus its latency.
pub struct ShopRootSpan;

struct RequestStarted(Instant);

impl RootSpanBuilder for ShopRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request
            .extensions_mut()
            .insert(RequestStarted(Instant::now()));
        tracing_actix_web::root_span!(request, latency_ms = tracing::field::Empty)
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let Ok(response) = outcome {
            let started = response
                .request()
                .extensions()
                .get::<RequestStarted>()
                .map(|s| s.0);
            if let Some(started) = started {
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                span.record("latency_ms", latency_ms);
                let status = response.status().as_u16();
                let _entered = span.enter();
                tracing::info!(status, latency_ms, "request completed");
            }
            // A redirect made from an error (sign in first: `AppError::SignInRequired`) is the
            // page working as meant; the default builder would log it as an ERROR.
            if response.status().is_redirection() {
                span.record("http.status_code", response.status().as_u16());
                span.record("otel.status_code", "OK");
                return;
            }
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
