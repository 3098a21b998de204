//! Launchers: local agent processes, agents started by hand, and the way to reach each (a TCP address or a port-forward).
//!
//! `local:N` spawns N `rampdeck agent` processes bound to 127.0.0.1 on
//! ports of their choosing (each prints its address first), with a fresh
//! random token in their environment and `--allow` set to the run's
//! target. They exit when the coordinator's end of their stdin closes, so
//! a killed coordinator leaves none behind. The executable is this one
//! (`RAMPDECK_AGENT_EXE` overrides it, for tests that run the coordinator
//! inside a test binary).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::process::{Child, Command};

use super::{AgentsError, AgentsSpec};
use crate::util::secret::Token;

/// A byte stream to an agent.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type BoxIo = Box<dyn Io>;

/// How to reach one agent.
pub enum Dial {
    Tcp(String),
    /// Through the API server, as `kubectl port-forward` does.
    PortForward {
        pods: kube::Api<k8s_openapi::api::core::v1::Pod>,
        pod: String,
        port: u16,
    },
}

impl Dial {
    pub fn describe(&self) -> String {
        match self {
            Dial::Tcp(a) => a.clone(),
            Dial::PortForward { pod, port, .. } => format!("pod {pod}:{port}"),
        }
    }

    /// Opens a stream to the agent; what keeps a port-forward alive comes along.
    pub async fn open(&self) -> Result<(BoxIo, Option<kube::api::Portforwarder>), String> {
        match self {
            Dial::Tcp(a) => {
                let s = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(a))
                    .await
                    .map_err(|_| format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))?
                    .map_err(|e| e.to_string())?;
                let _ = s.set_nodelay(true);
                Ok((Box::new(s), None))
            }
            Dial::PortForward { pods, pod, port } => {
                let mut pf = tokio::time::timeout(CONNECT_TIMEOUT, pods.portforward(pod, &[*port]))
                    .await
                    .map_err(|_| {
                        format!(
                            "port-forward: no answer within {}s",
                            CONNECT_TIMEOUT.as_secs()
                        )
                    })?
                    .map_err(|e| format!("port-forward: {e}"))?;
                let stream = pf
                    .take_stream(*port)
                    .ok_or_else(|| "port-forward gave no stream".to_owned())?;
                Ok((Box::new(stream), Some(pf)))
            }
        }
    }
}

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One agent to reach: its name, how, and (local) its process id.
pub struct Launched {
    pub name: String,
    pub dial: Dial,
    pub pid: Option<u32>,
}

/// What a launcher started and must stop at the end.
pub enum Fleet {
    Local(Vec<Child>),
    Static,
    Kubernetes(Box<super::kubernetes::JobGuard>),
}

impl Fleet {
    /// Stops what was started: local processes are killed, the Job (and
    /// with it its pods) and the token Secret deleted.
    pub async fn shutdown(self) {
        match self {
            Fleet::Local(children) => {
                for mut c in children {
                    let _ = c.start_kill();
                    let _ = tokio::time::timeout(Duration::from_secs(2), c.wait()).await;
                }
            }
            Fleet::Static => {}
            Fleet::Kubernetes(job) => job.delete().await,
        }
    }
}

/// What launching gives the coordinator.
pub struct Launch {
    pub agents: Vec<Launched>,
    pub token: Token,
    pub fleet: Fleet,
    /// Agents that join later (a Job's replacement pods).
    pub joins: Option<tokio::sync::mpsc::UnboundedReceiver<Launched>>,
}

/// Starts (or finds) the agents of `spec` for a run against `target` (`host:port`).
pub async fn launch(
    spec: &AgentsSpec,
    target: &str,
    kube: Option<&crate::spec::kube::KubeSettings>,
) -> Result<Launch, AgentsError> {
    match spec {
        AgentsSpec::Local { count } => local(*count, target).await,
        AgentsSpec::Static {
            addresses,
            token_file,
        } => Ok(Launch {
            agents: addresses
                .iter()
                .enumerate()
                .map(|(i, a)| Launched {
                    name: format!("agent-{i}"),
                    dial: Dial::Tcp(a.clone()),
                    pid: None,
                })
                .collect(),
            token: super::token_from(token_file.as_deref(), super::TokenFor::Coordinator)?,
            fleet: Fleet::Static,
            joins: None,
        }),
        AgentsSpec::Kubernetes { .. } => super::kubernetes::launch(spec, target, kube).await,
    }
}

fn agent_exe() -> Result<std::path::PathBuf, String> {
    match std::env::var_os("RAMPDECK_AGENT_EXE") {
        Some(p) => Ok(p.into()),
        None => std::env::current_exe().map_err(|e| e.to_string()),
    }
}

async fn local(count: usize, target: &str) -> Result<Launch, AgentsError> {
    let token =
        Token::random().map_err(|e| AgentsError::Token(format!("cannot make a token: {e}")))?;
    let exe = agent_exe().map_err(|message| AgentsError::Spawn { index: 0, message })?;
    let mut children = Vec::new();
    let mut agents = Vec::new();
    for index in 0..count {
        let spawn = |message: String| AgentsError::Spawn { index, message };
        let mut child = Command::new(&exe)
            .args([
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--allow",
                target,
                "--exit-with-stdin",
            ])
            .args(["--name", &format!("agent-{index}")])
            .env(crate::util::secret::AGENT_TOKEN_ENV, token.expose())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| spawn(format!("{}: {e}", exe.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| spawn("no stdout".into()))?;
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        match tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err(spawn("it did not say where it listens within 10 s".into())),
        }
        let addr = line
            .trim()
            .strip_prefix("rampdeck agent listening on ")
            .ok_or_else(|| spawn(format!("unexpected first line '{}'", line.trim())))?
            .to_owned();
        // Keep reading (and dropping) its stdout so it never blocks on a full pipe.
        tokio::spawn(async move {
            let mut sink = String::new();
            while matches!(reader.read_line(&mut sink).await, Ok(n) if n > 0) {
                sink.clear();
            }
        });
        agents.push(Launched {
            name: format!("agent-{index}"),
            dial: Dial::Tcp(addr),
            pid: child.id(),
        });
        children.push(child);
    }
    Ok(Launch {
        agents,
        token,
        fleet: Fleet::Local(children),
        joins: None,
    })
}
