//! `rampdeck report --release BASE NEW`: a short per-release performance summary in Markdown, the noise-aware verdict table ready to paste into release notes.

use std::fmt::Write;
use std::path::Path;

use super::compare::Tolerances;
use super::repeats::RunSet;
use super::verdict;

/// The Markdown, and whether anything regressed.
pub fn summary(base: &Path, new: &Path, tol: &Tolerances) -> Result<(String, bool), String> {
    let (b, n) = (RunSet::load(base)?, RunSet::load(new)?);
    if b.kind != n.kind {
        return Err(format!(
            "'{}' and '{}' are different kinds of result ({:?} and {:?})",
            base.display(),
            new.display(),
            b.kind,
            n.kind
        ));
    }
    let c = verdict::compare(&b, &n, tol);
    let first = &n.results[0];
    let what = first["profile"]
        .as_str()
        .or_else(|| first["scenario"].as_str())
        .unwrap_or("capacity search");
    let version = |s: &RunSet| {
        let e = &s.results[0]["environment"];
        e["git_commit"]
            .as_str()
            .map(|g| g.chars().take(12).collect::<String>())
            .unwrap_or_else(|| s.path.display().to_string())
    };
    let mut md = verdict::markdown(
        &c,
        &format!("Performance: {} against {}", version(&n), version(&b)),
    );
    let env = &first["environment"];
    let _ = write!(
        md,
        "\n{} `{}`, target `{}`",
        match n.kind {
            super::compare::ResultKind::Run => "Load profile",
            super::compare::ResultKind::Scenario => "Scenario",
            super::compare::ResultKind::Capacity => "Search",
        },
        what,
        first["target"].as_str().unwrap_or("?"),
    );
    if env.is_object() {
        let _ = write!(md, " on {}", super::history::testbed(env));
    }
    let _ = writeln!(
        md,
        ". Tolerance {}% (success rate and errors: {} points) unless set per metric.",
        tol.default_pct, tol.default_points
    );
    Ok((md, verdict::has_regression(&c)))
}
