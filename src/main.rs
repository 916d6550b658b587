//! `mcp-autoscaler`: command-line wiring only. See the library docs.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use mcp_autoscaler::config::{Config, LogFormat, Overrides};
use mcp_autoscaler::serve::{self, Listeners};
use mcp_autoscaler::sim::cli::SimulateArgs;
use mcp_autoscaler::time::SystemClock;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Event-driven autoscaler for fleets of hosted MCP servers.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the KEDA external scaler (gRPC) and the HTTP endpoints.
    Serve(ServeArgs),
    /// Simulate policies over a fleet and write a capacity report.
    Simulate(SimulateArgs),
    /// Write one KEDA ScaledObject per hosted server (for GitOps).
    Manifests(ManifestsArgs),
    /// Print the RBAC rules a config needs: `rules` where the workloads are
    /// (a ClusterRole, or a Role per listed namespace) and `namespace_rules`
    /// in the scaler's own namespace (a Role: apply mode's Lease).
    Rbac {
        /// The YAML config file (built-in defaults when absent).
        file: Option<PathBuf>,
    },
    /// Validate a config file and print the effective config.
    CheckConfig {
        /// The YAML config file.
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// YAML config file (built-in defaults when absent).
    #[arg(long, env = "MCP_AUTOSCALER_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC listen address [default: 0.0.0.0:9090].
    #[arg(long, env = "MCP_AUTOSCALER_GRPC_ADDR")]
    grpc_addr: Option<SocketAddr>,
    /// HTTP listen address (health, metrics, API) [default: 0.0.0.0:8080].
    #[arg(long, env = "MCP_AUTOSCALER_HTTP_ADDR")]
    http_addr: Option<SocketAddr>,
    /// Log filter, e.g. info or mcp_autoscaler=debug [default: info].
    #[arg(long, env = "MCP_AUTOSCALER_LOG_LEVEL")]
    log_level: Option<String>,
    /// Log format [default: pretty].
    #[arg(long, env = "MCP_AUTOSCALER_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Prometheus base URL (turns on the Prometheus source).
    #[arg(long, env = "MCP_AUTOSCALER_PROMETHEUS_URL")]
    prometheus_url: Option<String>,
    /// NATS URL (turns on the NATS source).
    #[arg(long, env = "MCP_AUTOSCALER_NATS_URL")]
    nats_url: Option<String>,
    /// Apply mode: scale the discovered workloads directly (no KEDA); one
    /// replica acts, elected through a Lease. Needs kubernetes.discovery.
    #[arg(long)]
    apply: bool,
    /// Apply mode that only logs, and shows in the API, what it would do.
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
struct ManifestsArgs {
    /// YAML list of {namespace, server, workload?: {kind, name}, policy?}.
    #[arg(
        long,
        required_unless_present = "discover",
        conflicts_with = "discover"
    )]
    servers: Option<PathBuf>,
    /// Take the servers from the cluster (kubernetes.discovery's label and
    /// namespaces), once.
    #[arg(long)]
    discover: bool,
    /// The scaler's gRPC address as KEDA reaches it (host:port).
    #[arg(long)]
    scaler_address: String,
    /// Config whose policies are named (maximum replicas, policy names).
    #[arg(long, env = "MCP_AUTOSCALER_CONFIG")]
    config: Option<PathBuf>,
    /// One file per object under DIR (<namespace>/<server>.yaml) instead of
    /// one YAML stream on stdout.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// `external` triggers (KEDA polls) instead of `external-push`.
    #[arg(long)]
    poll: bool,
    /// Connect to the scaler over TLS (enableTLS: "true").
    #[arg(long)]
    tls: bool,
    /// TriggerAuthentication holding the CA / client certificate for TLS.
    #[arg(long, value_name = "NAME", requires = "tls")]
    trigger_authentication: Option<String>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            grpc_addr: self.grpc_addr,
            http_addr: self.http_addr,
            log_level: self.log_level.clone(),
            log_format: self.log_format,
            prometheus_url: self.prometheus_url.clone(),
            nats_url: self.nats_url.clone(),
            apply: self.apply,
            dry_run: self.dry_run,
        }
    }
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", mcp_autoscaler::errors::with_causes(e.as_ref()));
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Simulate(args) => Ok(mcp_autoscaler::sim::cli::run(&args)?),
        Command::Manifests(args) => manifests(&args),
        Command::Rbac { file } => {
            let config = load(file.as_deref(), &Overrides::default())?;
            let k = &config.kubernetes;
            let rules = mcp_autoscaler::cluster::rbac::required(k);
            let own = mcp_autoscaler::cluster::rbac::required_in_own_namespace(k);
            print!(
                "{}",
                serde_saphyr::to_string(
                    &serde_json::json!({ "rules": rules, "namespace_rules": own })
                )?
            );
            Ok(())
        }
        Command::Serve(args) => {
            let config = load(args.config.as_deref(), &args.overrides())?;
            init_logs(&config);
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(serve_until_signal(config))
        }
    }
}

fn manifests(args: &ManifestsArgs) -> anyhow::Result<()> {
    use mcp_autoscaler::cluster::{self, manifests};
    let config = load(args.config.as_deref(), &Overrides::default())?;
    let options = manifests::Options {
        scaler_address: args.scaler_address.clone(),
        poll_only: args.poll,
        tls: args.tls,
        trigger_authentication: args.trigger_authentication.clone(),
    };
    options.validate()?;
    let entries = match &args.servers {
        Some(file) => {
            let size = std::fs::metadata(file)
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            anyhow::ensure!(
                size <= manifests::MAX_SERVERS_FILE_BYTES,
                "{}: {size} bytes, at most {} allowed",
                file.display(),
                manifests::MAX_SERVERS_FILE_BYTES
            );
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            manifests::parse_servers(&text, &file.display().to_string(), &config)?
        }
        None => tokio::runtime::Runtime::new()?.block_on(async {
            let client = cluster::client().await.context("kubernetes client")?;
            let (entries, ambiguous) = cluster::list::servers(&client, &config.kubernetes)
                .await
                .context("listing workloads")?;
            for workloads in ambiguous {
                let names: Vec<String> = workloads
                    .iter()
                    .map(|w| format!("{}/{}", w.workload.kind, w.workload.name))
                    .collect();
                eprintln!(
                    "skipped {}: hosted by {} workloads ({}); a ScaledObject scales one",
                    workloads[0].server,
                    names.len(),
                    names.join(", ")
                );
            }
            let (known, unknown): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| {
                e.policy.as_ref().is_none_or(|p| config.policies.contains_key(p))
            });
            for e in unknown {
                eprintln!(
                    "skipped {}: its workload's mcp-autoscaler/policy annotation names {:?}, which the config does not define",
                    e.server,
                    e.policy.unwrap_or_default()
                );
            }
            anyhow::Ok(known)
        })?,
    };
    let objects: Vec<_> = entries
        .iter()
        .map(|e| manifests::scaled_object(e, &config, &options))
        .collect();
    match &args.out {
        Some(dir) => {
            let files = manifests::write_dir(dir, &objects)
                .with_context(|| format!("writing to {}", dir.display()))?;
            eprintln!(
                "wrote {} ScaledObjects under {}",
                files.len(),
                dir.display()
            );
        }
        None => print!("{}", manifests::to_yaml(&objects)?),
    }
    Ok(())
}

fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let config = load(Some(file), &Overrides::default())?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    // Credentials in URLs and header values are hidden: this output ends up
    // in terminals, CI logs and bug reports.
    print!(
        "# {}: valid. Effective config (secrets shown as ***):\n{}",
        file.display(),
        config.redacted().to_yaml()
    );
    Ok(())
}

fn load(file: Option<&std::path::Path>, overrides: &Overrides) -> anyhow::Result<Config> {
    let config = Config::load(file, overrides);
    match (file, config) {
        (_, Ok(c)) => Ok(c),
        (Some(f), Err(e @ mcp_autoscaler::config::ConfigError::Invalid { .. })) => {
            Err(anyhow::anyhow!("{}: {e}", f.display()))
        }
        (_, Err(e)) => Err(e.into()),
    }
}

/// Logs at `RUST_LOG` when it is a valid filter, else at `log.level`
/// (validated with the config), saying so when `RUST_LOG` was refused.
fn init_logs(config: &Config) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, refused) = log_filter(rust_log.as_deref(), &config.log.level);
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
    if let Some(e) = refused {
        tracing::warn!(
            error = %e,
            level = %config.log.level,
            "RUST_LOG is not a log filter; logging at log.level instead"
        );
    }
}

/// The log filter: `rust_log` when it is one, else `level`, with why
/// `rust_log` was refused.
fn log_filter(
    rust_log: Option<&str>,
    level: &str,
) -> (
    tracing_subscriber::EnvFilter,
    Option<tracing_subscriber::filter::ParseError>,
) {
    use tracing_subscriber::EnvFilter;
    match rust_log.map(EnvFilter::try_new) {
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (EnvFilter::new(level), Some(e)),
        None => (EnvFilter::new(level), None),
    }
}

async fn serve_until_signal(config: Config) -> anyhow::Result<()> {
    // Install the handlers before anything is served, so that a SIGTERM that
    // arrives early still drains instead of killing the process.
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let grpc = tokio::net::TcpListener::bind(config.server.grpc_addr)
        .await
        .with_context(|| {
            format!(
                "binding gRPC address {} (server.grpc_addr / --grpc-addr)",
                config.server.grpc_addr
            )
        })?;
    let http = tokio::net::TcpListener::bind(config.server.http_addr)
        .await
        .with_context(|| {
            format!(
                "binding HTTP address {} (server.http_addr / --http-addr)",
                config.server.http_addr
            )
        })?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
        }
        token.cancel();
    });
    serve::App::new(config, Arc::new(SystemClock))
        .run(Listeners { grpc, http }, shutdown)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use mcp_autoscaler::errors::with_causes;

    fn error_text(e: &anyhow::Error) -> String {
        with_causes(e.as_ref())
    }

    #[test]
    fn a_rust_log_that_is_no_filter_gives_way_to_the_level_and_says_why() {
        let (filter, refused) = super::log_filter(Some("bad[["), "warn");
        assert!(refused.is_some());
        assert_eq!(filter.to_string(), "warn");
        let (filter, refused) = super::log_filter(Some("debug"), "warn");
        assert_eq!(
            (filter.to_string(), refused.is_none()),
            ("debug".into(), true)
        );
        let (filter, _) = super::log_filter(None, "info");
        assert_eq!(filter.to_string(), "info");
    }

    #[test]
    fn a_cause_already_quoted_is_said_once_and_others_are_chained() {
        let missing = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let quoted = mcp_autoscaler::sim::scenario::ScenarioError::Read {
            path: "s.yaml".into(),
            source: missing(),
        };
        assert_eq!(
            error_text(&anyhow::Error::new(quoted)),
            "cannot read scenario s.yaml: no such file"
        );
        let chained = anyhow::Error::new(missing()).context("writing out/report.md");
        assert_eq!(error_text(&chained), "writing out/report.md: no such file");
    }
}
