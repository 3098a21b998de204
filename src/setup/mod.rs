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

use std::time::Duration;

pub use apply::{run_setup, Applied};
pub use lifecycle::before_run;
pub use teardown::{remove_labelled, remove_leftovers, teardown, Guard};

use crate::kube::dynamic::ObjectRef;
use crate::kube::KubeError;
use crate::spec::setup::{SetupConfig, SetupStep, WaitSpec, LABEL, MANAGED_BY};

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
        use rampdeck_base::fmt::fmt_dur;
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
    #[error("setup: {what} did not happen within {timeout}; last seen: {last}", timeout = rampdeck_base::fmt::fmt_dur(*.timeout))]
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
