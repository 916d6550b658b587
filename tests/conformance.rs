//! A client nobody on this team wrote (Google's grpcio, stubs generated from
//! our proto) drives every RPC of the real `serve` binary; then SIGTERM must
//! stop it cleanly.

mod common;

use common::{free_port, sigterm_and_wait, wait_for_port};
use std::process::{Command, Stdio};

#[tokio::test]
async fn googles_grpc_client_drives_every_rpc_and_sigterm_stops_the_binary() {
    let python_ok = Command::new("python3")
        .args([
            "-c",
            "import grpc, grpc_tools, grpc_health, grpc_reflection",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        python_ok,
        "python3 with grpcio, grpcio-tools, grpcio-health-checking and grpcio-reflection is needed: run .ci/run or `pip install -r tests/conformance/requirements.txt`"
    );
    let (grpc, http) = (free_port(), free_port());
    let mut server = Command::new(env!("CARGO_BIN_EXE_mcp-autoscaler"))
        .args(common::serve_args(grpc, http))
        .env("MCP_AUTOSCALER_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start serve");
    wait_for_port(([127, 0, 0, 1], grpc).into()).await;
    let client = Command::new("python3")
        .args([
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/conformance/keda_client.py"
            ),
            "--addr",
            &format!("127.0.0.1:{grpc}"),
        ])
        .output()
        .expect("run python client");
    let out = String::from_utf8_lossy(&client.stdout);
    let status = sigterm_and_wait(&mut server);
    assert!(
        client.status.success(),
        "conformance client failed:\n{out}\n{}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert!(out.contains(" passed, 0 failed"), "{out}");
    assert!(status.success(), "serve exited with {status} after SIGTERM");
}

#[tokio::test]
async fn sigterm_the_moment_the_port_opens_still_drains_and_exits_zero() {
    for _ in 0..5 {
        let (grpc, http) = (free_port(), free_port());
        let mut server = Command::new(env!("CARGO_BIN_EXE_mcp-autoscaler"))
            .args(common::serve_args(grpc, http))
            .stdout(Stdio::null())
            .spawn()
            .expect("start serve");
        wait_for_port(([127, 0, 0, 1], grpc).into()).await;
        let status = sigterm_and_wait(&mut server);
        assert!(
            status.success(),
            "exited with {status}: the SIGTERM handler was not installed before serving"
        );
    }
}
