//! The NATS source against a real `nats-server -js`.

mod common;

use common::servers::{Nats, eventually};
use common::{WAIT, client, metric, so, start, wait_ready};
use mcp_autoscaler::config::{Config, JetStreamConfig, NatsConfig};
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::signal::SignalKind;
use std::time::Duration;
use tokio_stream::StreamExt;

fn config(nats: &Nats, jetstream: bool) -> Config {
    Config {
        nats: Some(NatsConfig {
            url: nats.url(),
            jetstream: jetstream.then(JetStreamConfig::default),
            ..NatsConfig::default()
        }),
        ..Config::default()
    }
}

fn id(s: &str) -> ServerKey {
    ServerKey::parse("tenants", s).expect("id")
}

async fn publisher(nats: &Nats) -> async_nats::Client {
    tokio::time::timeout(WAIT, async_nats::connect(nats.url()))
        .await
        .expect("in time")
        .expect("connect")
}

/// Publishes to JetStream and waits for the stream's ack.
async fn js_publish(client: &async_nats::Client, subject: &str, payload: &str) {
    let js = async_nats::jetstream::new(client.clone());
    let ack = js
        .publish(subject.to_owned(), payload.to_owned().into())
        .await
        .expect("publish");
    tokio::time::timeout(WAIT, ack)
        .await
        .expect("ack in time")
        .expect("ack");
}

#[tokio::test]
async fn an_event_wakes_the_stream_and_malformed_events_never_stop_later_ones() {
    let nats = Nats::start().await;
    let srv = start(config(&nats, false)).await;
    let pubc = publisher(&nats).await;
    let mut c = client(srv.grpc).await;
    let mut stream = common::open_stream(&mut c, "sleepy", &[]).await;
    assert!(
        !tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("first")
            .expect("open")
            .expect("ok")
            .result
    );
    wait_ready(srv.http).await;

    for (subject, payload) in [
        ("mcp.activity.tenants.sleepy", "{not json"),
        ("mcp.activity.tenants.Bad_Id", ""),
        ("mcp.activity.tenants.sleepy", r#"{"kind":"teleport"}"#),
    ] {
        pubc.publish(subject, payload.to_owned().into())
            .await
            .expect("publish");
    }
    pubc.publish(
        "mcp.activity.tenants.sleepy",
        r#"{"kind":"session_open","session":"s-1"}"#.into(),
    )
    .await
    .expect("publish");
    pubc.flush().await.expect("flush");

    let woke = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("wake in time")
        .expect("open")
        .expect("ok");
    assert!(
        woke.result,
        "the good event after three bad ones still wakes the server"
    );
    assert_eq!(
        srv.store
            .signals(&id("sleepy"))
            .load
            .event_count(SignalKind::Sessions),
        1
    );
    assert_eq!(
        metric(srv.http, "mcp_autoscaler_events_malformed_total").await,
        3.0
    );
}

#[tokio::test]
async fn session_ids_keep_the_count_true_through_lost_events() {
    let nats = Nats::start().await;
    let srv = start(config(&nats, false)).await;
    wait_ready(srv.http).await;
    let pubc = publisher(&nats).await;
    let long_ago =
        humantime::format_rfc3339(std::time::SystemTime::now() - Duration::from_secs(30 * 3600));
    for payload in [
        // Opened 30 h ago; its close is lost.
        format!(r#"{{"kind":"session_open","session":"lost","ts":"{long_ago}"}}"#),
        r#"{"kind":"session_open","session":"live"}"#.to_owned(),
        // A close whose open was lost: it must not hide `live`.
        r#"{"kind":"session_close","session":"open-was-lost"}"#.to_owned(),
        // Delivered twice.
        r#"{"kind":"session_open","session":"live"}"#.to_owned(),
    ] {
        pubc.publish("mcp.activity.tenants.counted", payload.into())
            .await
            .expect("publish");
    }
    // Events are applied in order: once this one lands, all have.
    pubc.publish("mcp.activity.tenants.marker", "".into())
        .await
        .expect("publish");
    pubc.flush().await.expect("flush");
    eventually(WAIT, "the marker event applied", || {
        srv.store.signals(&id("marker")).last_event.is_some()
    })
    .await;
    // Opens minus closes would say 2; a stray close that counted, 0.
    assert_eq!(
        srv.store
            .signals(&id("counted"))
            .load
            .event_count(SignalKind::Sessions),
        1,
        "only `live` is open: `lost` was silent for a day, the stray close and the second open count for nothing"
    );
    assert_eq!(srv.store.tracked_sessions(), 1);
    assert_eq!(
        metric(srv.http, "mcp_autoscaler_sessions_tracked").await,
        1.0
    );
}

#[tokio::test]
async fn events_that_arrive_during_the_backfill_are_held_then_applied() {
    use mcp_autoscaler::source::nats::{NatsSource, connect};
    use mcp_autoscaler::source::{SourceContext, Store, Telemetry};
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;
    let nats = Nats::start().await;
    let store = Arc::new(Store::with_sources(true, true));
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ctx = SourceContext {
        store: Arc::clone(&store),
        telemetry: Telemetry::new(Arc::default()),
        clock: Arc::new(mcp_autoscaler::time::SystemClock),
        ready: Arc::clone(&ready),
    };
    let config = NatsConfig {
        url: nats.url(),
        ..NatsConfig::default()
    };
    let client = connect(&config).await.expect("connect");
    let (backfilled, shutdown) = (CancellationToken::new(), CancellationToken::new());
    let source = NatsSource::new(config, ctx).after(backfilled.clone());
    let task = tokio::spawn(source.run(client, shutdown.clone()));
    let pubc = publisher(&nats).await;
    // Published while the backfill runs: the subscription is there, so it
    // is kept, but not applied before the past is in the store.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut published = 0;
    while published < 20 {
        pubc.publish("mcp.activity.tenants.early", "".into())
            .await
            .expect("publish");
        published += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::time::Instant::now() < deadline);
    }
    pubc.flush().await.expect("flush");
    assert!(
        store.signals(&id("early")).last_event.is_none(),
        "nothing applied before the backfill ends"
    );
    assert!(
        !ready.load(std::sync::atomic::Ordering::Acquire),
        "not live yet"
    );
    backfilled.cancel();
    eventually(WAIT, "the held events applied", || {
        store.signals(&id("early")).last_event.is_some()
    })
    .await;
    shutdown.cancel();
    let _ = tokio::time::timeout(WAIT, task).await;
}

#[tokio::test]
async fn after_a_nats_restart_the_scaler_reconnects_and_resumes_without_a_restart() {
    let mut nats = Nats::start().await;
    let srv = start(config(&nats, false)).await;
    {
        let pubc = publisher(&nats).await;
        eventually(WAIT, "first event applied", || {
            let _ =
                futures::executor::block_on(pubc.publish("mcp.activity.tenants.before", "".into()));
            srv.store.signals(&id("before")).last_event.is_some()
        })
        .await;
    }
    nats.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    nats.restart().await;
    let pubc = publisher(&nats).await;
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    while srv.store.signals(&id("after")).last_event.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no event after the NATS restart"
        );
        pubc.publish("mcp.activity.tenants.after", "".into())
            .await
            .expect("publish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_restarted_scaler_replays_jetstream_and_is_ready_only_after_the_replay() {
    let nats = Nats::start().await;
    let first = start(config(&nats, true)).await;
    wait_ready(first.http).await;
    let pubc = publisher(&nats).await;
    // The first scaler creates the stream; wait until it sees an event.
    let deadline = tokio::time::Instant::now() + WAIT;
    while first.store.signals(&id("early")).last_event.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "first scaler got nothing"
        );
        js_publish(&pubc, "mcp.activity.tenants.early", "").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.stop().await.expect("clean stop");

    // While no scaler runs: a session opens and requests arrive.
    js_publish(
        &pubc,
        "mcp.activity.tenants.while-down",
        r#"{"kind":"session_open"}"#,
    )
    .await;
    for _ in 0..50 {
        js_publish(&pubc, "mcp.activity.tenants.busy-while-down", "").await;
    }
    let old = "2000-01-01T00:00:00Z";
    js_publish(
        &pubc,
        "mcp.activity.tenants.ancient",
        &format!(r#"{{"kind":"request","ts":"{old}"}}"#),
    )
    .await;

    let second = start(config(&nats, true)).await;
    wait_ready(second.http).await;
    // Ready means replayed: no waiting after readiness.
    assert_eq!(
        second
            .store
            .signals(&id("while-down"))
            .load
            .event_count(SignalKind::Sessions),
        1,
        "the wake-up was not lost"
    );
    assert!(
        second
            .store
            .signals(&id("busy-while-down"))
            .last_event
            .is_some()
    );
    let mut c = client(second.grpc).await;
    assert!(
        c.is_active(so("while-down", &[]))
            .await
            .expect("call")
            .into_inner()
            .result
    );
    assert!(
        c.is_active(so("busy-while-down", &[]))
            .await
            .expect("call")
            .into_inner()
            .result
    );
    assert!(
        !c.is_active(so("ancient", &[]))
            .await
            .expect("call")
            .into_inner()
            .result,
        "replayed events keep their own time"
    );
}

#[tokio::test]
async fn jetstream_consumption_resumes_after_a_nats_restart() {
    let mut nats = Nats::start().await;
    let srv = start(config(&nats, true)).await;
    wait_ready(srv.http).await;
    let pubc = publisher(&nats).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while srv.store.signals(&id("one")).last_event.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing before the restart"
        );
        js_publish(&pubc, "mcp.activity.tenants.one", "").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(pubc);
    nats.stop();
    eventually(WAIT, "the event stream is seen down", || {
        srv.store.feed().events_down_since.is_some()
    })
    .await;
    nats.restart().await;
    let pubc = publisher(&nats).await;
    js_publish(
        &pubc,
        "mcp.activity.tenants.two",
        r#"{"kind":"session_open"}"#,
    )
    .await;
    eventually(
        WAIT * 3,
        "event published after the NATS restart applied",
        || {
            srv.store
                .signals(&id("two"))
                .load
                .event_count(SignalKind::Sessions)
                == 1
        },
    )
    .await;
    eventually(WAIT, "live again once caught up", || {
        let feed = srv.store.feed();
        feed.events_ready && feed.events_down_since.is_none()
    })
    .await;
}

#[tokio::test]
async fn a_deleted_stream_reads_down_then_is_made_anew_and_consumed() {
    let nats = Nats::start().await;
    let srv = start(config(&nats, true)).await;
    wait_ready(srv.http).await;
    let pubc = publisher(&nats).await;
    js_publish(&pubc, "mcp.activity.tenants.one", "").await;
    eventually(WAIT, "an event before the deletion", || {
        srv.store.signals(&id("one")).last_event.is_some()
    })
    .await;
    let js = async_nats::jetstream::new(pubc.clone());
    tokio::time::timeout(WAIT, js.delete_stream("MCP_ACTIVITY"))
        .await
        .expect("in time")
        .expect("delete the stream");
    // Checked every 5 s: the feed reads down, not live and silent.
    eventually(WAIT * 2, "the deleted stream is seen down", || {
        srv.store.feed().events_down_since.is_some()
    })
    .await;
    // `create: true` makes it again; events published to it are applied.
    eventually(WAIT * 3, "live again on the stream made anew", || {
        let feed = srv.store.feed();
        feed.events_ready && feed.events_down_since.is_none()
    })
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while srv.store.signals(&id("two")).last_event.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "not consumed");
        js_publish(&pubc, "mcp.activity.tenants.two", "").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Token and user/password auth against a real nats-server, through the real
/// binary with the secret in its environment (and a clear start-up error
/// naming the variable when it is missing).
#[tokio::test]
async fn token_and_user_password_credentials_from_the_environment_work_end_to_end() {
    let cases = [
        (
            vec!["--auth", "t0ken-s3cret"],
            "token_env: MCP_TEST_NATS_SECRET",
            "t0ken-s3cret",
            None,
        ),
        (
            vec!["--user", "scaler", "--pass", "pa55"],
            "user_password: { user: scaler, password_env: MCP_TEST_NATS_SECRET }",
            "pa55",
            Some("scaler"),
        ),
    ];
    for (args, auth, secret, user) in cases {
        let nats = Nats::start_with(&args).await;
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("config.yaml");
        std::fs::write(
            &file,
            format!("nats:\n  url: {}\n  auth: {{ {auth} }}\n", nats.url()),
        )
        .expect("write");
        let (grpc, http) = (common::free_port(), common::free_port());
        let serve = |with_secret: bool| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-autoscaler"));
            cmd.args(common::serve_args(grpc, http))
                .args(["--config", &file.display().to_string()])
                .env_remove("MCP_TEST_NATS_SECRET")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            if with_secret {
                cmd.env("MCP_TEST_NATS_SECRET", secret);
            }
            cmd
        };
        let missing = serve(false).output().expect("run");
        let stderr = String::from_utf8_lossy(&missing.stderr);
        assert!(
            !missing.status.success() && stderr.contains("MCP_TEST_NATS_SECRET"),
            "{stderr}"
        );
        assert!(!stderr.contains(secret));

        let mut child = serve(true).spawn().expect("serve");
        common::wait_for_port(([127, 0, 0, 1], http).into()).await;
        wait_ready(([127, 0, 0, 1], http).into()).await;
        let opts = match user {
            None => async_nats::ConnectOptions::with_token(secret.to_owned()),
            Some(u) => {
                async_nats::ConnectOptions::with_user_and_password(u.to_owned(), secret.to_owned())
            }
        };
        let pubc = opts
            .connect(nats.url())
            .await
            .expect("publisher with credentials");
        let mut c = client(([127, 0, 0, 1], grpc).into()).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while !c
            .is_active(so("authed", &[]))
            .await
            .expect("call")
            .into_inner()
            .result
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no event through the authenticated connection"
            );
            pubc.publish("mcp.activity.tenants.authed", "".into())
                .await
                .expect("publish");
            pubc.flush().await.expect("flush");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test]
async fn a_url_list_connects_to_a_member_that_is_up() {
    let nats = Nats::start().await;
    // The first member is down (nothing listens there).
    let down = format!("nats://127.0.0.1:{}", common::free_port());
    let mut c = config(&nats, false);
    if let Some(n) = c.nats.as_mut() {
        n.url = format!("{down}, {}", nats.url());
    }
    c.validate().expect("a list is a valid nats.url");
    let srv = start(c).await;
    wait_ready(srv.http).await;
    let pubc = publisher(&nats).await;
    let listed = || {
        srv.store
            .signals(&id("listed"))
            .load
            .event_count(SignalKind::Sessions)
    };
    // The scaler may still be trying the member that is down: publish
    // until it counts the session (one id: repeats count once).
    for _ in 0..100 {
        pubc.publish(
            "mcp.activity.tenants.listed",
            r#"{"kind":"session_open","session":"s-1"}"#.into(),
        )
        .await
        .expect("publish");
        pubc.flush().await.expect("flush");
        if listed() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        listed(),
        1,
        "events reach the scaler through the member that is up"
    );
}
