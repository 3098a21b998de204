//! Load from many machines: the agent server, the coordinator, the wire protocol, the launchers and the exact merge.
//!
//! A distributed run is the ordinary run with its engine replaced: the
//! coordinator (`coordinator::start`) hands the session an `EngineHandle`
//! whose intervals are the agents' intervals merged exactly (`merge`), so
//! the console, thresholds, run log, reports and compare work unchanged.
//! Every agent runs the whole plan's schedule and sends its share of the
//! slots (`engine::share`); rate changes, pauses, the capacity search and
//! route actions stay on the coordinator, which sends level changes with
//! the run-clock time they take effect.
//!
//! Launchers (`launch`): `local:N` spawns N agent processes here;
//! `static` reaches agents started by hand; `kubernetes` creates an
//! Indexed Job (one pod per agent) and reaches each pod through the API
//! server's port-forward, as kubectl does, so the operator needs only a
//! kubeconfig (`kubernetes`). The demo simulates that API and its kubelet
//! (`demo::kubeapi`): a simulation, not a cluster.

pub mod coordinator;
pub mod kubernetes;
pub mod launch;
pub mod merge;
pub mod server;
pub mod vet;
pub mod wire;

use std::net::SocketAddr;

use crate::util::secret::AGENT_TOKEN_ENV;

use crate::spec::agents::AgentsSpec;

/// Why agents could not be started, reached or kept.
#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    #[error("agent: cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start local agent {index}: {message}")]
    Spawn { index: usize, message: String },
    #[error("cannot reach agent {agent}: {message}")]
    Connect { agent: String, message: String },
    #[error("agent {agent} refused the run: {reason}")]
    Refused { agent: String, reason: String },
    #[error("agent {agent}: {message}")]
    Protocol { agent: String, message: String },
    #[error("kubernetes agents: {0}")]
    Kube(String),
    #[error("{0}")]
    Token(String),
    #[error("the run's plan: {0}")]
    Plan(String),
}

impl AgentsError {
    /// Refusals and bad settings are the operator's to fix (exit 2); the
    /// rest are failures to reach or start agents (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            AgentsError::Refused { .. } | AgentsError::Token(_) | AgentsError::Plan(_)
        )
    }
}

/// Who reads a token, so a missing one names the right flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFor {
    /// A coordinator of static agents (`--agent-token-file`, `[agents] token_file`).
    Coordinator,
    /// `rampdeck agent` (`--token-file`).
    Agent,
}

/// The token a coordinator presents to static agents, or an agent
/// requires: the file, else `RAMPDECK_AGENT_TOKEN`.
pub fn token_from(
    file: Option<&std::path::Path>,
    who: TokenFor,
) -> Result<crate::util::secret::Token, AgentsError> {
    use crate::util::secret::Token;
    match file {
        Some(p) => {
            let text = crate::util::files::read_text(p, crate::util::files::TOKEN)
                .map_err(|e| AgentsError::Token(e.to_string()))?;
            Token::new(&text).map_err(|e| AgentsError::Token(format!("{}: {e}", p.display())))
        }
        None => match std::env::var(AGENT_TOKEN_ENV) {
            Ok(t) => Token::new(&t).map_err(|e| AgentsError::Token(format!("{AGENT_TOKEN_ENV}: {e}"))),
            Err(_) => Err(AgentsError::Token(match who {
                TokenFor::Coordinator => format!(
                    "the agents need a token: give --agent-token-file FILE (or token_file in [agents]), or set {AGENT_TOKEN_ENV}"
                ),
                TokenFor::Agent => format!(
                    "an agent needs the token its coordinators present: give --token-file FILE, or set {AGENT_TOKEN_ENV}"
                ),
            })),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_or_say_what_is_allowed() {
        assert_eq!(
            AgentsSpec::parse("local:3"),
            Ok(AgentsSpec::Local { count: 3 })
        );
        assert_eq!(AgentsSpec::parse("kubernetes:2").unwrap().count(), 2);
        assert_eq!(
            AgentsSpec::parse("static:10.0.0.1:7070,[::1]:7070")
                .unwrap()
                .count(),
            2
        );
        for bad in [
            "local:0",
            "local:x",
            "cloud:3",
            "static:",
            "static:host",
            "local",
        ] {
            let e = AgentsSpec::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }
}
