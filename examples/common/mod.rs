//! What both examples take on the command line: an optional target URL (else the embedded demo) and `--duration SECONDS`.

use std::time::Duration;

use rampdeck::Plan;

/// The profile, pointed at the URL and cut to the duration the command line gives.
pub fn plan(name: &str, profile: &str) -> Result<Plan, rampdeck::Error> {
    let (target, duration) = args().map_err(|e| {
        rampdeck::Error::Input(format!("{e}\nusage: {name} [URL] [--duration SECONDS]"))
    })?;
    let mut plan = Plan::from_toml(&format!("{name}.toml"), profile)?;
    if let Some(url) = target {
        plan = plan.target(&url)?;
    }
    if let Some(d) = duration {
        plan = plan.duration(d)?;
    }
    Ok(plan)
}

fn args() -> Result<(Option<String>, Option<Duration>), String> {
    let mut target = None;
    let mut duration = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--duration" {
            let v = it.next().ok_or("--duration needs a number of seconds")?;
            let secs: f64 = v
                .parse()
                .map_err(|_| format!("--duration: '{v}' is not a number of seconds"))?;
            duration =
                Some(Duration::try_from_secs_f64(secs).map_err(|e| format!("--duration: {e}"))?);
        } else if target.is_none() && !a.starts_with('-') {
            target = Some(a);
        } else {
            return Err(format!("unexpected argument '{a}'"));
        }
    }
    Ok((target, duration))
}
