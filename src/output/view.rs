//! The live view: server-rendered HTML, no script.
//!
//! - `GET /`: the fleet as a table with counts on top and the filters of
//!   `GET /v1/servers` (namespace, active, policy, limit, cursor).
//! - `GET /servers/{namespace}/{server}`: one server, with SVG timelines
//!   of its replicas and main signals over the last hour (drawn by
//!   [`crate::plot`], as the simulator's reports are), its signals with
//!   their ages, the keep-alive plan and the recent decision changes.
//!
//! Behind the bearer token like `/v1` when `server.http_auth` is set.

use super::detail::detail;
use super::fleet::{FleetQuery, Page, Row, rfc3339};
use super::http::HttpState;
use super::recent::{Sample, Summary, WINDOW};
use super::view_html::{escape, layout, opt, secs, yes_no};
use crate::id::ServerKey;
use crate::plot::{Shade, Steps, Timeline};
use crate::time::Timestamp;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use std::collections::HashMap;
use std::fmt::Write;

/// `GET /`.
pub async fn fleet_page(State(s): State<HttpState>, RawQuery(raw): RawQuery) -> Response {
    let mut params = match super::query::parse(raw.as_deref(), &FleetQuery::PARAMETERS) {
        Ok(params) => params,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    // An empty form field means "any".
    params.retain(|_, v| !v.is_empty());
    let query = match FleetQuery::parse(&params).and_then(|q| q.checked(&s.config)) {
        Ok(q) => q,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    let Some(page) = s.page(query).await else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be made",
        );
    };
    let mut body = String::new();
    summary_line(&mut body, &s.recent.summary());
    filter_form(&mut body, &params, s.config.policies.keys());
    fleet_table(&mut body, &page);
    next_link(&mut body, &params, &page);
    Html(layout("MCP servers", &body)).into_response()
}

fn summary_line(out: &mut String, sum: &Summary) {
    let Some(at) = sum.at else {
        out.push_str("<p class=counts>Counting the fleet: the first sweep has not run yet.</p>");
        return;
    };
    let _ = write!(
        out,
        "<p class=counts><b id=count-servers>{}</b> servers · <b id=count-active>{}</b> active · \
         <b id=count-stale>{}</b> stale · <b id=count-unavailable>{}</b> data unavailable \
         <span class=muted>(as of {})</span></p>",
        sum.servers,
        sum.active,
        sum.stale,
        sum.unavailable,
        rfc3339(at)
    );
}

fn filter_form<'a>(
    out: &mut String,
    params: &HashMap<String, String>,
    policies: impl Iterator<Item = &'a String>,
) {
    let value = |k: &str| escape(params.get(k).map_or("", String::as_str));
    let chosen = |k: &str, v: &str| {
        if params.get(k).is_some_and(|p| p == v) {
            " selected"
        } else {
            ""
        }
    };
    let _ = write!(
        out,
        "<form method=get class=filters>namespace <input name=namespace value=\"{}\" size=16> \
         active <select name=active><option value=\"\">any</option>\
         <option{}>true</option><option{}>false</option></select> policy <select name=policy>\
         <option value=\"\">any</option>",
        value("namespace"),
        chosen("active", "true"),
        chosen("active", "false"),
    );
    for p in policies {
        let _ = write!(out, "<option{}>{}</option>", chosen("policy", p), escape(p));
    }
    let _ = write!(
        out,
        "</select> rows <input name=limit value=\"{}\" size=4> <button>Show</button></form>",
        value("limit")
    );
}

fn fleet_table(out: &mut String, page: &Page) {
    out.push_str(
        "<table id=fleet><tr><th>namespace</th><th>server</th><th>policy</th><th>active</th>\
         <th>desired / current</th><th>ready</th><th>reason</th><th>data</th><th>data age</th>\
         <th>last activity</th></tr>",
    );
    if page.servers.is_empty() {
        out.push_str("<tr><td colspan=10 class=muted>No server matches.</td></tr>");
    }
    for row in &page.servers {
        fleet_row(out, row);
    }
    out.push_str("</table>");
}

fn fleet_row(out: &mut String, r: &Row) {
    let _ = write!(
        out,
        "<tr class=\"{}\"><td>{}</td><td><a href=\"/servers/{}/{}\">{}</a></td><td>{}</td>\
         <td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td class=\"data-{}\">{}</td><td>{}</td><td>{}</td></tr>",
        match r.active {
            Some(true) => "active",
            Some(false) => "idle",
            None => "unknown",
        },
        escape(&r.namespace),
        escape(&r.namespace),
        escape(&r.server),
        escape(&r.server),
        escape(&r.policy),
        yes_no(r.active),
        opt(r.desired),
        opt(r.current),
        opt(r.ready),
        r.reason.name(),
        r.data,
        r.data,
        r.data_age_s.map_or_else(|| "–".into(), secs),
        escape(r.last_activity.as_deref().unwrap_or("never")),
    );
}

fn next_link(out: &mut String, params: &HashMap<String, String>, page: &Page) {
    let Some(cursor) = &page.next_cursor else {
        return;
    };
    let mut query: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "cursor")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    query.sort();
    query.push(("cursor".into(), cursor.clone()));
    let encoded: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect();
    let _ = write!(
        out,
        "<p><a id=next href=\"/?{}\">next page →</a></p>",
        escape(&encoded.join("&"))
    );
}

fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /servers/{namespace}/{server}`.
pub async fn server_page(
    State(s): State<HttpState>,
    Path((namespace, server)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let server = match ServerKey::parse(&namespace, &server) {
        Ok(server) => server,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    // As the API: `?policy=` decides under another configured policy.
    let asked = match super::api::asked_policy(&s, raw.as_deref()) {
        Ok(asked) => asked,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e),
    };
    if !s.knows(&server) {
        return error_page(
            StatusCode::NOT_FOUND,
            &format!("no server {server} is known"),
        );
    }
    let (name, policy) = asked.unwrap_or_else(|| s.policy_of(&server));
    let d = detail(&s, &server, name, &policy);
    let now = s.clock.now();
    let mut samples = s.recent.of(&server).samples;
    let signals = s.store.signals(&server);
    samples.push(Sample::of(
        &signals,
        &d.decision,
        policy.event_count_ttl,
        now,
    ));
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"/\">← fleet</a></p><h2>{}</h2>",
        escape(&server.to_string())
    );
    super::view_detail::decision_block(&mut body, &d);
    charts(&mut body, &samples, now);
    super::view_detail::tables(&mut body, &d);
    Html(layout(&format!("{server}"), &body)).into_response()
}

/// The shortest span a chart shows, in minutes.
const MIN_SPAN_MIN: f64 = 5.0;

fn charts(out: &mut String, samples: &[Sample], now: Timestamp) {
    // From the first sample (at least a few minutes, at most the window) to now.
    let window_min = WINDOW.as_secs_f64() / 60.0;
    let span = samples.first().map_or(MIN_SPAN_MIN, |s| {
        (now.since(s.at).as_secs_f64() / 60.0).clamp(MIN_SPAN_MIN, window_min)
    });
    let minutes = |t: Timestamp| -(now.since(t).as_secs_f64() / 60.0).min(span);
    let points = |f: &dyn Fn(&Sample) -> Option<f64>| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter_map(|s| f(s).map(|v| (minutes(s.at), v)))
            .collect()
    };
    let steps = |label: &str, f: &dyn Fn(&Sample) -> Option<f64>| Steps {
        label: label.into(),
        points: points(f),
    };
    let x_range = -span..0.0;
    let replicas = Timeline {
        title: format!("replicas over the last {span:.0} minutes"),
        x_desc: "minutes (0 = now)".into(),
        y_desc: "replicas".into(),
        x_range: x_range.clone(),
        lines: [
            steps("desired", &|s| s.desired.map(f64::from)),
            steps("current", &|s| s.current.map(f64::from)),
        ]
        .into_iter()
        .filter(|line| !line.points.is_empty())
        .collect(),
        shade: Some(Shade {
            label: "live sessions".into(),
            points: points(&|s| Some(f64::from(s.sessions))),
        }),
        size: (900, 340),
    };
    let signals = Timeline {
        title: format!("main signals over the last {span:.0} minutes"),
        x_desc: "minutes (0 = now)".into(),
        y_desc: "value".into(),
        x_range,
        lines: vec![
            steps("sessions", &|s| Some(f64::from(s.sessions))),
            steps("connections", &|s| Some(f64::from(s.connections))),
            steps("requests/s", &|s| Some(f64::from(s.request_rate))),
            steps("queue", &|s| Some(f64::from(s.queue_length))),
        ],
        shade: None,
        size: (900, 300),
    };
    for (id, chart) in [("replicas-chart", replicas), ("signals-chart", signals)] {
        match crate::plot::timeline(&chart) {
            Ok(svg) => {
                let _ = write!(out, "<figure id={id}>{svg}</figure>");
            }
            Err(e) => {
                let _ = write!(out, "<p class=error>{}</p>", escape(&e.to_string()));
            }
        }
    }
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<p class=error>{}</p><p><a href=\"/\">← fleet</a></p>",
        escape(message)
    );
    (status, Html(layout("error", &body))).into_response()
}
