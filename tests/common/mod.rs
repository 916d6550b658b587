//! Shared helpers for integration tests: start `serve` on loopback ports,
//! build ScaledObjectRefs, connect clients. Every wait is bounded.
#![allow(dead_code)]

use clock::JumpClock;
use mcp_autoscaler::config::Config;
use mcp_autoscaler::proto::external_scaler_client::ExternalScalerClient;
use mcp_autoscaler::proto::{IsActiveResponse, ScaledObjectRef};
use mcp_autoscaler::serve::{App, Listeners, ServeError};
use mcp_autoscaler::source::Store;
use mcp_autoscaler::time::SystemClock;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub mod bench;
pub mod clock;
pub mod fake_kube;
pub mod servers;

/// Upper bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(10);

/// A `serve` running in this process on loopback.
pub struct Running {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub store: Arc<Store>,
    /// The scaler's clock: `srv.clock.jump(d)` lets `d` pass for it.
    pub clock: Arc<JumpClock>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Stops the server and returns how it ended.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("server stops in time")
            .expect("server task")
    }
}

/// `config` whose default policy also sizes servers by live sessions (20
/// per replica; the default only keeps them active), so that events and
/// gauges alone ask for more replicas.
pub fn sized_by_sessions(mut config: Config) -> Config {
    if let Some(p) = config
        .policies
        .get_mut(mcp_autoscaler::config::DEFAULT_POLICY)
    {
        p.targets
            .set(mcp_autoscaler::signal::Metric::Sessions, Some(20.0));
    }
    config
}

/// Starts `serve` with `config` on free loopback ports.
pub async fn start(config: Config) -> Running {
    let clock = Arc::new(JumpClock::default());
    start_app(App::new(config, clock.clone()), clock).await
}

/// Starts `serve` with `config`, its Kubernetes API at `client`.
pub async fn start_with_kube(config: Config, client: kube::Client) -> Running {
    let clock = Arc::new(JumpClock::default());
    start_app(
        App::new(config, clock.clone()).with_kube_client(client),
        clock,
    )
    .await
}

/// Starts `serve` with `config`, sampling decisions for the live view
/// every `every`.
pub async fn start_sampling(config: Config, every: Duration) -> Running {
    let clock = Arc::new(JumpClock::default());
    start_app(
        App::new(config, clock.clone()).with_sample_every(every),
        clock,
    )
    .await
}

async fn start_app(app: App, clock: Arc<JumpClock>) -> Running {
    let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
    let http = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
    let (grpc_addr, http_addr) = (
        grpc.local_addr().expect("addr"),
        http.local_addr().expect("addr"),
    );
    let store = app.store();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(Listeners { grpc, http }, shutdown.clone()));
    Running {
        grpc: grpc_addr,
        http: http_addr,
        store,
        clock,
        shutdown,
        task,
    }
}

/// Polling the Prometheus at `url` every second (fast tests).
pub fn poll_every_second(url: String) -> mcp_autoscaler::config::PrometheusConfig {
    mcp_autoscaler::config::PrometheusConfig {
        url,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        // Enough to exercise it on every start, short enough to be quick
        // against a Prometheus that started moments ago.
        backfill: Duration::from_secs(30),
        ..Default::default()
    }
}

/// A plaintext client for `addr`.
pub async fn client(addr: SocketAddr) -> ExternalScalerClient<Channel> {
    ExternalScalerClient::new(channel(addr).await)
}

/// Opens a `StreamIsActive` stream for ScaledObject `name` with `metadata`.
pub async fn open_stream(
    c: &mut ExternalScalerClient<Channel>,
    name: &str,
    metadata: &[(&str, &str)],
) -> tonic::Streaming<IsActiveResponse> {
    c.stream_is_active(so(name, metadata))
        .await
        .expect("stream")
        .into_inner()
}

/// The next answer on `stream` if one comes within `limit`, `None` if none
/// does. A stream that fails or ends fails the test.
pub async fn next_within(
    stream: &mut tonic::Streaming<IsActiveResponse>,
    limit: Duration,
) -> Option<bool> {
    tokio::time::timeout(limit, stream.message())
        .await
        .ok()
        .map(|m| m.expect("stream ok").expect("stream stays open").result)
}

/// A plaintext HTTP/2 connection to `addr`.
pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_timeout(WAIT)
        // A large connection window: h2's small-frame flood budget is half of it.
        .initial_connection_window_size(Some(64 << 20))
        .connect()
        .await
        .expect("connect")
}

/// A ScaledObjectRef named `name` with `metadata`, in namespace `tenants`.
pub fn so(name: &str, metadata: &[(&str, &str)]) -> ScaledObjectRef {
    so_in("tenants", name, metadata)
}

/// A ScaledObjectRef in `namespace` named `name` with `metadata`.
pub fn so_in(namespace: &str, name: &str, metadata: &[(&str, &str)]) -> ScaledObjectRef {
    ScaledObjectRef {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        scaler_metadata: metadata
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Now, as the server's clock sees it.
pub fn now() -> mcp_autoscaler::time::Timestamp {
    use mcp_autoscaler::time::Clock;
    SystemClock.now()
}

/// A TCP connection to `addr`, retried (every 50 ms) until `limit`: under
/// a loaded test run a connect is occasionally refused once.
pub async fn connect_within(addr: SocketAddr, limit: Duration) -> tokio::net::TcpStream {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return s,
            Ok(Err(e)) if tokio::time::Instant::now() < deadline => {
                eprintln!("connect to {addr} failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("connect to {addr}: {other:?}"),
        }
    }
}

/// GET `path` on the HTTP port; (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = connect_within(addr, WAIT).await;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("read in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The arguments that run `serve` on loopback ports `grpc` and `http`:
/// every test and bench that starts the real binary begins with these.
pub fn serve_args(grpc: u16, http: u16) -> [String; 5] {
    [
        "serve".into(),
        "--grpc-addr".into(),
        format!("127.0.0.1:{grpc}"),
        "--http-addr".into(),
        format!("127.0.0.1:{http}"),
    ]
}

/// A loopback port that was free a moment ago (for child processes that
/// must be told their port up front).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Waits until `addr` accepts TCP connections.
pub async fn wait_for_port(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} never opened"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sends SIGTERM to a child process (through `kill`, keeping tests free of unsafe code).
pub fn sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// The sum of every sample of metric `name` (with or without labels) on the
/// HTTP `/metrics` endpoint at `http`.
pub async fn metric(http: SocketAddr, name: &str) -> f64 {
    let (_, body) = http_get(http, "/metrics").await;
    body.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `/readyz` at `http` answers 200.
pub async fn wait_ready(http: SocketAddr) {
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    while http_get(http, "/readyz").await.0 != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{http} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends SIGTERM and waits (bounded) for the child to exit; returns its status.
pub fn sigterm_and_wait(child: &mut std::process::Child) -> std::process::ExitStatus {
    sigterm(child);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
