//! Real `nats-server` and `prometheus` processes on free loopback ports, and
//! a small exporter of MCP metrics for Prometheus to scrape. Each process
//! can be stopped and restarted on the same port and data directory; all are
//! killed on drop. Every wait is bounded.
#![allow(dead_code)]

use super::{WAIT, free_port, wait_for_port};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A child process we can stop and start again with the same arguments.
struct Proc {
    program: &'static str,
    args: Vec<String>,
    child: Option<Child>,
}

impl Proc {
    fn spawn(&mut self) {
        let child = Command::new(self.program)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); scripts/test.sh installs it",
                    self.program
                )
            });
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + WAIT;
            while child.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Proc {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `nats-server -js` on loopback.
pub struct Nats {
    pub port: u16,
    proc: Proc,
    _dir: tempfile::TempDir,
}

impl Nats {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts with extra arguments (e.g. `--auth TOKEN`, `--user U --pass P`).
    pub async fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let args = [
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-sd",
            &dir.path().display().to_string(),
        ];
        let mut proc = Proc {
            program: "nats-server",
            args: args.iter().chain(extra).map(|s| (*s).to_owned()).collect(),
            child: None,
        };
        proc.spawn();
        wait_for_port(([127, 0, 0, 1], port).into()).await;
        Self {
            port,
            proc,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        self.proc.stop();
    }

    pub async fn restart(&mut self) {
        self.proc.spawn();
        wait_for_port(([127, 0, 0, 1], self.port).into()).await;
    }
}

/// `prometheus` on loopback, scraping `target` every second.
pub struct Prometheus {
    pub port: u16,
    proc: Proc,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Prometheus scraping `target` every second (fast tests).
    pub async fn start(target: SocketAddr) -> Self {
        Self::start_scraping_every(target, "1s").await
    }

    /// Prometheus scraping `target` every `interval` (e.g. `15s`, as deployed).
    pub async fn start_scraping_every(target: SocketAddr, interval: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: {interval}, evaluation_interval: {interval} }}\nscrape_configs:\n  - job_name: mcp\n    static_configs: [{{ targets: ['{target}'] }}]\n"
            ),
        )
        .expect("write config");
        let args = vec![
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--storage.tsdb.retention.time=1h".to_owned(),
        ];
        let mut proc = Proc {
            program: "prometheus",
            args,
            child: None,
        };
        proc.spawn();
        let me = Self {
            port,
            proc,
            _dir: dir,
        };
        me.wait_ready().await;
        me
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }

    pub fn stop(&mut self) {
        self.proc.stop();
    }

    pub async fn restart(&mut self) {
        self.proc.spawn();
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        wait_for_port(addr).await;
        let deadline = tokio::time::Instant::now() + WAIT * 3;
        while super::http_get(addr, "/-/ready").await.0 != 200 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "prometheus never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A counter from Prometheus' own metrics (sum over all matching lines).
    pub async fn own_counter(&self, prefix: &str) -> f64 {
        let (_, body) = super::http_get(([127, 0, 0, 1], self.port).into(), "/metrics").await;
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// MCP metrics for a fleet, served at `/metrics` for Prometheus to scrape.
pub struct Exporter {
    pub addr: SocketAddr,
    body: Arc<Mutex<String>>,
    stop: CancellationToken,
}

/// One server's gauges in the exporter.
#[derive(Clone, Copy, Default)]
pub struct Gauges {
    pub connections: f64,
    pub sessions: f64,
    pub queue: f64,
}

impl Exporter {
    pub async fn start() -> Self {
        let body = Arc::new(Mutex::new(String::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let served = body.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let served = served.clone();
                async move { served.lock().map(|b| b.clone()).unwrap_or_default() }
            }),
        );
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await
        });
        Self { addr, body, stop }
    }

    /// Replaces what is exposed with `text` (exposition format), as is.
    #[allow(dead_code)] // not every test binary uses it
    pub fn set_raw(&self, text: String) {
        *self.body.lock().expect("lock") = text;
    }

    /// Replaces what is exposed: gauges per server label value (any text,
    /// hostile values included: the exporter escapes them properly). A
    /// value `ns/name` sets the namespace label too; otherwise it is
    /// `tenants`.
    pub fn set(&self, servers: &[(&str, Gauges)]) {
        let mut out = String::new();
        for (metric, pick) in [
            ("mcp_active_connections", 0usize),
            ("mcp_active_sessions", 1),
            ("mcp_tool_queue_length", 2),
        ] {
            out.push_str(&format!("# TYPE {metric} gauge\n"));
            for (server, g) in servers {
                let v = [g.connections, g.sessions, g.queue][pick];
                let (namespace, server) = server.split_once('/').unwrap_or(("tenants", server));
                let label = server.replace('\\', "\\\\").replace('"', "\\\"");
                out.push_str(&format!(
                    "{metric}{{namespace=\"{namespace}\",server=\"{label}\",pod=\"{label}-0\"}} {v}\n"
                ));
            }
        }
        *self.body.lock().expect("lock") = out;
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Polls `check` every 50 ms until it is true, for at most `limit`.
pub async fn eventually<F: FnMut() -> bool>(limit: Duration, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
