//! A cost-aware pre-warm reaches KEDA end to end: a server whose idle gaps
//! are regular is released after its requests, and its open
//! `StreamIsActive` stream sleeps until the pre-warm starts, re-decides, and
//! sends `true` before the next request is due.

mod common;

use common::{WAIT, client, http_get, next_within, open_stream, start};
use mcp_autoscaler::config::Config;
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::signal::EventKind;
use mcp_autoscaler::time::{Clock, Timestamp};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Minutes between the scheduled job's requests.
const PERIOD_MIN: u64 = 10;

/// The server's keep-alive plan as the detail API shows it.
async fn plan(http: std::net::SocketAddr, server: &str) -> serde_json::Value {
    let (status, body) = http_get(http, &format!("/v1/servers/tenants/{server}")).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    json["keep_alive"].clone()
}

/// An RFC 3339 time from the API as the scaler's clock counts it.
fn timestamp(rfc3339: &serde_json::Value) -> Timestamp {
    let text = rfc3339.as_str().expect("a time");
    let at = humantime::parse_rfc3339_weak(text).expect("RFC 3339");
    let ms = at
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    Timestamp::from_millis(u64::try_from(ms).expect("ms fit"))
}

#[tokio::test]
async fn a_stream_wakes_the_server_when_its_prewarm_starts() {
    let srv = start(Config::default()).await;
    let server = ServerKey::parse("tenants", "nightly-job").expect("id");
    // Twelve requests exactly ten minutes apart (the scaler's clock jumps;
    // the test takes milliseconds): eleven regular idle gaps.
    for k in 0..12 {
        if k > 0 {
            srv.clock.jump(Duration::from_secs(PERIOD_MIN * 60));
        }
        srv.store
            .record_event(&server, EventKind::Request, srv.clock.now());
    }
    let last = srv.clock.now();
    let keep_alive = plan(srv.http, "nightly-job").await;
    assert_eq!(keep_alive["plan"], "prewarm", "{keep_alive}");
    let from = timestamp(&keep_alive["prewarm_from"]);
    let next_request = last + Duration::from_secs(PERIOD_MIN * 60);
    assert!(
        from > last && from < next_request,
        "warmed before the next request: {keep_alive}"
    );

    // Just before the pre-warm the server is released: the stream opens
    // with `false`, then says `true` once the pre-warm starts.
    let lead = Duration::from_secs(2);
    srv.clock
        .jump(from.since(srv.clock.now()).saturating_sub(lead));
    let mut c = client(srv.grpc).await;
    let md = [("serverId", "nightly-job")];
    let mut stream = open_stream(&mut c, "nightly-job", &md).await;
    assert_eq!(
        next_within(&mut stream, WAIT).await,
        Some(false),
        "released"
    );
    let opened = SystemTime::now();
    assert_eq!(
        next_within(&mut stream, lead + WAIT).await,
        Some(true),
        "woken for the pre-warm"
    );
    let waited = opened.elapsed().unwrap_or_default();
    assert!(
        waited + Duration::from_millis(200) >= lead,
        "not before the pre-warm: {waited:?}"
    );
    assert!(srv.clock.now() >= from);
}
