//! `/healthz`, `/readyz` and `/metrics` (Prometheus text exposition format).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::SharedState;

/// (method, route, status) → (requests, total seconds).
type Counters = BTreeMap<(String, String, u16), (u64, f64)>;

/// Request counters and latency sums by route and status.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Counters>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut m = self.inner.lock().expect("metrics lock");
        let e = m
            .entry((method.to_string(), route.to_string(), status))
            .or_insert((0, 0.0));
        e.0 += 1;
        e.1 += seconds;
    }

    pub fn render(&self, events: Option<u64>) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        out.push_str(
            "# HELP celltrail_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE celltrail_http_requests_total counter\n");
        for ((method, route, status), (n, _)) in m.iter() {
            out.push_str(&format!(
                "celltrail_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}\n",
                escape_label(route)
            ));
        }
        out.push_str("# HELP celltrail_http_request_duration_seconds_sum Total time spent serving requests.\n");
        out.push_str("# TYPE celltrail_http_request_duration_seconds_sum counter\n");
        for ((method, route, status), (_, s)) in m.iter() {
            out.push_str(&format!(
                "celltrail_http_request_duration_seconds_sum{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {s:.6}\n",
                escape_label(route)
            ));
        }
        if let Some(n) = events {
            out.push_str("# HELP celltrail_ledger_events Events in the ledger.\n");
            out.push_str("# TYPE celltrail_ledger_events gauge\n");
            out.push_str(&format!("celltrail_ledger_events {n}\n"));
        }
        out
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub async fn track(State(st): State<SharedState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let resp = next.run(req).await;
    st.metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

pub async fn healthz() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "ok\n",
    )
}

/// Ready when the database answers.
pub async fn readyz(State(st): State<SharedState>) -> impl IntoResponse {
    match st.store.stream_head("readiness-probe").await {
        Ok(_) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ready\n".to_string(),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("database unavailable: {}\n", e.code),
        ),
    }
}

pub async fn prometheus(State(st): State<SharedState>) -> impl IntoResponse {
    let events = st.store.event_count().await.ok();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(events),
    )
}
