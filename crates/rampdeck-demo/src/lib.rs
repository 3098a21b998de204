//! The embedded demo target: a gateway with a route table and a control plane with `/metrics`
//! and a simulated Kubernetes Gateway API (`kubeapi`) whose HTTPRoutes program the gateway.
//!
//! `rampdeck demo` runs it in a child process (`rampdeck demo-target`), so
//! the CPU and memory its control plane reports are the target's own and not
//! the load generator's, as they would be for a real gateway. Tests can run
//! it in-process with `DemoServer::start`.

pub mod accept;
pub mod auth;
pub mod config;
pub mod control;
pub mod echo;
pub mod faults;
pub mod gateway;
pub mod grpc;
pub mod health;
pub mod kubeapi;
pub mod launch;
pub mod procfs;
pub mod profile;
pub mod relay;
pub mod routing;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use config::DemoConfig;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo target: cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    #[error("demo target: cannot start its process: {0}")]
    Spawn(std::io::Error),
    #[error("demo target: {0}")]
    Handshake(String),
    #[error("demo target: cannot create its Gateway: {0}")]
    Seed(kubeapi::ApiError),
}

/// Where the demo listens; printed by the child as one JSON line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DemoAddrs {
    pub gateway: SocketAddr,
    pub control: SocketAddr,
    /// The TCP echo (the gateway serves the WebSocket echo at `config::WS_PATH`).
    pub echo: SocketAddr,
    /// Bearer token of the fault switches on the control port (`faults`); never logged.
    #[serde(default)]
    pub admin_token: String,
}

/// The demo served from this process.
pub struct DemoServer {
    pub addrs: DemoAddrs,
    pub gateway: Arc<gateway::Gateway>,
    /// The simulated Kubernetes API served on `addrs.control`.
    pub kube: Arc<kubeapi::KubeApi>,
    cancel: CancellationToken,
}

impl DemoServer {
    /// Binds both listeners on 127.0.0.1 ephemeral ports and serves on the current runtime.
    pub async fn start(config: &DemoConfig) -> Result<Self, DemoError> {
        let gw_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DemoError::Bind)?;
        let cp_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DemoError::Bind)?;
        let echo_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DemoError::Bind)?;
        let addrs = DemoAddrs {
            gateway: gw_listener.local_addr().map_err(DemoError::Bind)?,
            control: cp_listener.local_addr().map_err(DemoError::Bind)?,
            echo: echo_listener.local_addr().map_err(DemoError::Bind)?,
            admin_token: faults::new_token(),
        };
        let gw = Arc::new(gateway::Gateway::new(config));
        let cancel = CancellationToken::new();
        let kube = kubeapi::KubeApi::start(
            &config.kube,
            gw.router.clone(),
            addrs.control,
            addrs.gateway,
            cancel.clone(),
        )
        .map_err(DemoError::Seed)?;
        let cp = Arc::new(control::ControlPlane {
            gateway: gw.clone(),
            kube: kube.clone(),
            started: SystemTime::now(),
            admin_token: addrs.admin_token.clone(),
        });
        tokio::spawn(health::run_checks(gw.router.health.clone(), cancel.clone()));
        tokio::spawn(gateway::serve(gw_listener, gw.clone(), cancel.clone()));
        tokio::spawn(control::serve(cp_listener, cp, cancel.clone()));
        tokio::spawn(echo::serve_tcp(
            echo_listener,
            gw.echoes.clone(),
            cancel.clone(),
        ));
        Ok(DemoServer {
            addrs,
            gateway: gw,
            kube,
            cancel,
        })
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// `rampdeck demo-target`: serve, print the addresses, and exit when the
/// parent closes our stdin (which also happens if the parent dies).
pub async fn run_child(config: DemoConfig) -> Result<(), DemoError> {
    let server = DemoServer::start(&config).await?;
    let line =
        serde_json::to_string(&server.addrs).map_err(|e| DemoError::Handshake(e.to_string()))?;
    println!("{line}");
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    drop(server);
    Ok(())
}

/// The demo running in a child process; killed when dropped.
pub struct DemoProcess {
    pub addrs: DemoAddrs,
    child: tokio::process::Child,
}

impl DemoProcess {
    pub async fn spawn(config: &DemoConfig) -> Result<Self, DemoError> {
        let exe = std::env::current_exe().map_err(DemoError::Spawn)?;
        let json =
            serde_json::to_string(config).map_err(|e| DemoError::Handshake(e.to_string()))?;
        let mut child = tokio::process::Command::new(exe)
            .arg("demo-target")
            .arg("--config-json")
            .arg(json)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(DemoError::Spawn)?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| DemoError::Handshake("no stdout".into()))?;
        let mut line = String::new();
        let read = tokio::time::timeout(
            Duration::from_secs(10),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => {
                return Err(DemoError::Handshake(
                    "the demo process exited before it was ready".into(),
                ))
            }
            Ok(Err(e)) => return Err(DemoError::Handshake(e.to_string())),
            Err(_) => {
                return Err(DemoError::Handshake(
                    "the demo process was not ready within 10 s".into(),
                ))
            }
        }
        let addrs: DemoAddrs = serde_json::from_str(line.trim()).map_err(|e| {
            DemoError::Handshake(format!(
                "unexpected line from the demo process '{}': {e}",
                line.trim()
            ))
        })?;
        Ok(DemoProcess { addrs, child })
    }

    /// Closes the child's stdin so it exits on its own, then reaps it.
    pub async fn shutdown(mut self) {
        drop(self.child.stdin.take());
        if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
