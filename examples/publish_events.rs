//! How a gateway in front of hosted MCP servers tells the scaler about
//! activity: one NATS message per request, session or connection event, on
//! `<prefix>.<namespace>.<server>` (default prefix `mcp.activity`).
//!
//! ```sh
//! nats-server -js &
//! cargo run --example publish_events -- nats://127.0.0.1:4222 tenant-a github
//! ```
//!
//! The payload is JSON: `kind` is one of `request`, `session_open`,
//! `session_close`, `connection_open`, `connection_close`; `ts` (RFC 3339,
//! optional) is when it happened (default: when the scaler receives it);
//! `pod` (optional) is the pod that serves it, which session-aware scale-in
//! counts. An empty payload is one `request`. Publish a `request` before
//! proxying the call, so a server at zero starts waking while the gateway
//! waits for it; publish it even when the server is up (it keeps the server
//! warm). With JetStream, every scaler replica sees every event, and a
//! restarted replica replays the recent ones.
#![forbid(unsafe_code)]

use serde::Serialize;

/// One activity event, as the scaler parses it.
#[derive(Serialize)]
struct Activity<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod: Option<&'a str>,
}

/// The subject for one server. Namespace and server must be DNS labels
/// (1-63 of `a-z 0-9 -`): anything else could span subject tokens, and the
/// scaler drops it.
fn subject(prefix: &str, namespace: &str, server: &str) -> Result<String, String> {
    for (what, id) in [("namespace", namespace), ("server", server)] {
        let ok = (1..=63).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.starts_with('-')
            && !id.ends_with('-');
        if !ok {
            return Err(format!("{what} {id:?} is not a DNS label"));
        }
    }
    Ok(format!("{prefix}.{namespace}.{server}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let namespace = args.next().unwrap_or_else(|| "tenant-a".into());
    let server = args.next().unwrap_or_else(|| "github".into());
    let subject = subject("mcp.activity", &namespace, &server)?;
    let client = async_nats::connect(&url).await?;
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    // A session opens on a pod, makes one call, and closes.
    for kind in ["session_open", "request", "session_close"] {
        let event = Activity {
            kind,
            ts: Some(now.clone()),
            pod: Some("github-7d9f6c5b4-x2k8q"),
        };
        client
            .publish(subject.clone(), serde_json::to_vec(&event)?.into())
            .await?;
    }
    // Publishing is buffered: flush before exiting, so nothing is lost.
    client.flush().await?;
    println!("published 3 events on {subject}");
    Ok(())
}
