//! `[[setup]]`: the test's workload as validated (manifests, variables, waits); `setup` applies and removes it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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
