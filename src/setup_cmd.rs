//! `rampdeck setup PROFILE` and `rampdeck teardown PROFILE`: a profile's `[[setup]]` applied and waited for, or removed by its label, by hand.

use std::process::ExitCode;

use rampdeck::profile;
use rampdeck::setup::{self, Progress};

use crate::cli::KubeArgs;
use crate::{EXIT_BAD_INPUT, EXIT_CANNOT_RUN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Setup,
    Teardown,
}

pub fn run(path: &str, kube: &KubeArgs, part: Part) -> ExitCode {
    let mut plan = match profile::load(path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if plan.setup.is_empty() {
        eprintln!("error: {path} has no [[setup]] entry, so there is nothing to apply or remove");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    if let Some(k) = &kube.kubeconfig {
        plan.routes.kube.kubeconfig = Some(k.clone());
    }
    if let Some(c) = &kube.context {
        plan.routes.kube.context = Some(c.clone());
    }
    let (rt, mut signals) = match crate::start_run() {
        Ok(x) => x,
        Err(code) => return code,
    };
    let progress = Progress::stderr();
    let done = rt.block_on(async {
        match part {
            Part::Setup => {
                let guard = setup::before_run(&plan, &mut signals, &progress).await?;
                let applied = guard.map(setup::Guard::keep).unwrap_or_default();
                Ok::<_, setup::SetupError>(format!(
                    "applied {} object(s), labelled {}; remove them with `rampdeck teardown {path}`",
                    applied.len(),
                    plan.setup.selector()
                ))
            }
            Part::Teardown => {
                let ctx = rampdeck::kube::KubeContext::connect(&plan.routes.kube).await?;
                let base = plan.run_vars();
                let n = setup::remove_labelled(&ctx, &plan.setup, &base, true, &progress).await?;
                Ok(format!(
                    "removed {n} object(s) labelled {} ({})",
                    plan.setup.selector(),
                    ctx.describe
                ))
            }
        }
    });
    match done {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}
