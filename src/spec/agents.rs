//! `[agents]` or `--agents`: where a distributed run's agents come from (`agents` launches and coordinates them).

use std::path::PathBuf;

/// Where a distributed run's agents come from (`--agents SPEC` or `[agents]`).
#[derive(Debug, Clone, PartialEq)]
pub enum AgentsSpec {
    /// N agent processes on this machine.
    Local { count: usize },
    /// Agents started by hand (`rampdeck agent`), with their shared token.
    Static {
        addresses: Vec<String>,
        token_file: Option<PathBuf>,
    },
    /// An Indexed Job of `count` pods in `namespace` (None: the
    /// kubeconfig's), running `image`, from an optional Job manifest.
    Kubernetes {
        count: usize,
        namespace: Option<String>,
        image: Option<String>,
        job_template: Option<PathBuf>,
    },
}

/// The most agents a run takes (each costs the coordinator a socket and
/// one interval message per interval).
pub const MAX_AGENTS: usize = 256;

impl AgentsSpec {
    /// `local:N`, `static:HOST:PORT,HOST:PORT` or `kubernetes:N`.
    pub fn parse(text: &str) -> Result<AgentsSpec, String> {
        let allowed = "use local:N, static:HOST:PORT[,HOST:PORT...] or kubernetes:N";
        let (kind, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("--agents '{text}': {allowed}"))?;
        let count = |s: &str| -> Result<usize, String> {
            match s.trim().parse::<usize>() {
                Ok(n @ 1..=MAX_AGENTS) => Ok(n),
                _ => Err(format!(
                    "--agents '{text}': the count must be a number from 1 to {MAX_AGENTS}"
                )),
            }
        };
        match kind {
            "local" => Ok(AgentsSpec::Local {
                count: count(rest)?,
            }),
            "kubernetes" | "k8s" => Ok(AgentsSpec::Kubernetes {
                count: count(rest)?,
                namespace: None,
                image: None,
                job_template: None,
            }),
            "static" => {
                let addresses: Vec<String> = rest
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                if addresses.is_empty() || addresses.len() > MAX_AGENTS {
                    return Err(format!(
                        "--agents '{text}': give 1 to {MAX_AGENTS} agent addresses"
                    ));
                }
                for a in &addresses {
                    check_address(a).map_err(|e| format!("--agents '{text}': {e}"))?;
                }
                Ok(AgentsSpec::Static {
                    addresses,
                    token_file: None,
                })
            }
            other => Err(format!(
                "--agents '{text}': unknown kind '{other}'; {allowed}"
            )),
        }
    }

    pub fn count(&self) -> usize {
        match self {
            AgentsSpec::Local { count } | AgentsSpec::Kubernetes { count, .. } => *count,
            AgentsSpec::Static { addresses, .. } => addresses.len(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            AgentsSpec::Local { .. } => "local",
            AgentsSpec::Static { .. } => "static",
            AgentsSpec::Kubernetes { .. } => "kubernetes",
        }
    }
}

/// `HOST:PORT` with a port from 1 to 65535.
pub fn check_address(a: &str) -> Result<(), String> {
    let (host, port) = a
        .rsplit_once(':')
        .ok_or_else(|| format!("'{a}' is not HOST:PORT"))?;
    if host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .is_empty()
    {
        return Err(format!("'{a}' has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("'{a}': the port must be a number from 1 to 65535")),
    }
}
