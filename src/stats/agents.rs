//! What the coordinator knows about each agent of a distributed run, for the Agents pane, the run log and summary.json.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Connected, handshake done, waiting for the start time.
    Ready,
    Running,
    /// Stopped reporting: its share went to the others.
    Lost,
    /// Its run ended and it reported all of it.
    Finished,
}

impl AgentState {
    pub fn label(self) -> &'static str {
        match self {
            AgentState::Ready => "ready",
            AgentState::Running => "running",
            AgentState::Lost => "LOST",
            AgentState::Finished => "done",
        }
    }
}

/// One agent, as of the latest merged interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRow {
    pub name: String,
    /// Where the coordinator reached it (an address, or `pod NAME` through the API server).
    pub address: String,
    pub state: AgentState,
    /// Its share now: position (1-based) of members; None when it has none.
    pub share: Option<(u32, u32)>,
    /// Requests it sent, warmup included, and its responses after warmup.
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    /// Its send rate and success p99 in its latest interval.
    pub sent_rate: f64,
    pub p99_ms: Option<f64>,
    /// Its own p99 after warmup (the merged one is not the mean of these).
    pub total_p99_ms: Option<f64>,
    /// Its wall clock minus the coordinator's, and half the round trip it was measured with.
    pub clock_offset_ms: f64,
    pub clock_uncertainty_ms: f64,
    /// Seconds since its last interval report.
    pub last_report_s: Option<f64>,
    /// Run time it joined (0 for the first agents) and, if lost, when.
    pub joined_at_s: f64,
    pub lost_at_s: Option<f64>,
    /// Intervals of its that reached the merge.
    pub intervals: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// At the end only: its own success-latency histogram after warmup
    /// (base64 HdrHistogram V2 deflate, µs), so anyone can check that the
    /// merged percentiles are those of the agents' sum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr: Option<String>,
}

/// The agents of a distributed run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentsStatus {
    /// local, static or kubernetes.
    pub kind: String,
    pub agents: Vec<AgentRow>,
    /// Seconds of intervals whose merged send rate fell short of the schedule.
    pub under_supplied_s: f64,
    /// Agent reports that came after their interval was merged (added to the next one).
    pub late_reports: u64,
}

impl AgentsStatus {
    pub fn live(&self) -> usize {
        self.agents
            .iter()
            .filter(|a| matches!(a.state, AgentState::Running | AgentState::Ready))
            .count()
    }
}
