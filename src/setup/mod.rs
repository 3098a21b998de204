//! A test's own workload: `[[setup]]` manifests applied (any kind, server-side) and waited for before the load, and removed after it.
//!
//! Every object applied carries two labels, `app.kubernetes.io/managed-by:
//! rampdeck` and `rampdeck.dev/setup: <profile>`, so what a killed run left
//! behind is found at the next start and removed before anything is applied
//! (steps with `keep = true` are neither removed nor treated as leftovers).
//! Teardown deletes in reverse order of applying, at the end of a run, on
//! `q`, Ctrl-C and SIGTERM, and (from a guard's `Drop`) on a panic.

pub mod apply;
pub mod lifecycle;
pub mod teardown;
pub mod wait;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use apply::{run_setup, Applied};
pub use lifecycle::before_run;
pub use teardown::{remove_labelled, remove_leftovers, teardown, Guard};

use crate::kube::dynamic::ObjectRef;
use crate::kube::KubeError;

/// The label every applied object carries, valued with the profile's name.
pub const LABEL: &str = "rampdeck.dev/setup";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// One `[[setup]]` entry, as validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SetupStep {
    pub manifest: PathBuf,
    /// The manifest as read when the profile was (templated at apply time).
    pub text: String,
    pub vars: BTreeMap<String, String>,
    /// Wait for each object's own readiness (`kube::ready::default_condition`).
    pub ready: bool,
    pub waits: Vec<WaitSpec>,
    /// For all of this step's waits together.
    pub timeout: Duration,
    /// Leave its objects in place after the run.
    pub keep: bool,
}

/// A `wait` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitSpec {
    /// The step's objects of `kind` (and `name`, if given) reach `condition`.
    Condition {
        kind: String,
        name: Option<String>,
        condition: String,
    },
    /// `url` answers `status` to a GET.
    Url { url: String, status: u16 },
}

/// `[[setup]]` and where its objects go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetupConfig {
    pub steps: Vec<SetupStep>,
    /// The value of `rampdeck.dev/setup` on everything applied.
    pub label: String,
}

impl SetupConfig {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// `rampdeck.dev/setup=<label>`.
    pub fn selector(&self) -> String {
        format!("{LABEL}={}", self.label)
    }
}

/// A label value made from a profile name: at most 63 characters of
/// letters, digits, `-`, `_` and `.`, starting and ending with an
/// alphanumeric.
pub fn label_value(name: &str) -> String {
    let mut v: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    while v.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        v.pop();
    }
    let v = v.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    if v.is_empty() {
        "profile".to_owned()
    } else {
        v.to_owned()
    }
}

/// Where setup and teardown report what they do (printed as it happens,
/// or kept by a route action for its record).
#[derive(Clone)]
pub struct Progress(std::sync::Arc<dyn Fn(SetupEvent) + Send + Sync>);

impl Progress {
    pub fn new(f: impl Fn(SetupEvent) + Send + Sync + 'static) -> Self {
        Progress(std::sync::Arc::new(f))
    }

    /// Lines on stderr, `[setup   1.2s] applied ...`, timed from now.
    pub fn stderr() -> Self {
        let start = std::time::Instant::now();
        Progress::new(move |e| {
            crate::util::text::stderr_line!(
                "[setup {:>6.1}s] {}",
                start.elapsed().as_secs_f64(),
                crate::util::text::sanitize(&e.line())
            )
        })
    }

    pub fn report(&self, e: SetupEvent) {
        (self.0)(e)
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// What setup and teardown report as they go.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupEvent {
    /// An object of an earlier, killed run removed.
    Leftover(ObjectRef),
    Applied {
        object: ObjectRef,
        took: Duration,
    },
    Waiting {
        what: String,
        timeout: Duration,
    },
    /// A wait still going, with what it last saw.
    StillWaiting {
        what: String,
        status: String,
        waited: Duration,
    },
    Met {
        what: String,
        took: Duration,
    },
    Deleted(ObjectRef),
    /// Gone already (deleted by someone else, or with its namespace).
    AlreadyGone(ObjectRef),
    Kept(ObjectRef),
    /// A delete that failed; teardown goes on with the others.
    DeleteFailed {
        object: ObjectRef,
        error: String,
    },
}

impl SetupEvent {
    /// One line, as the headless progress and the terminal before the console show it.
    pub fn line(&self) -> String {
        use crate::util::fmt::fmt_dur;
        let ms = |d: &Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        match self {
            SetupEvent::Leftover(r) => format!("removed {r}, left by an earlier run"),
            SetupEvent::Applied { object, took } => format!("applied {object} ({})", ms(took)),
            SetupEvent::Waiting { what, timeout } => {
                format!("waiting for {what} (timeout {})", fmt_dur(*timeout))
            }
            SetupEvent::StillWaiting {
                what,
                status,
                waited,
            } => format!(
                "still waiting for {what}: {status} ({:.0} s)",
                waited.as_secs_f64()
            ),
            SetupEvent::Met { what, took } => {
                format!("{what} after {:.1} s", took.as_secs_f64())
            }
            SetupEvent::Deleted(r) => format!("deleted {r}"),
            SetupEvent::AlreadyGone(r) => format!("{r} was already gone"),
            SetupEvent::Kept(r) => format!("kept {r} (keep = true)"),
            SetupEvent::DeleteFailed { object, error } => {
                format!("could not delete {object}: {error}")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("setup: {0}")]
    Kube(#[from] KubeError),
    #[error("setup: {file}: {message}")]
    Manifest { file: String, message: String },
    #[error("setup: {what} did not happen within {timeout}; last seen: {last}", timeout = crate::util::fmt::fmt_dur(*.timeout))]
    WaitTimedOut {
        what: String,
        timeout: Duration,
        last: String,
    },
    #[error("setup: {object}: {error}")]
    Object { object: String, error: KubeError },
    #[error("setup interrupted (Ctrl-C or SIGTERM); what it had applied was removed")]
    Interrupted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_valid_kubernetes_labels() {
        assert_eq!(label_value("sample workload!"), "sample-workload");
        assert_eq!(label_value("--x--"), "x");
        assert_eq!(label_value("***"), "profile");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
    }
}
