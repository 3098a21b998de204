//! `[agents]`: where a distributed run's agents come from, validated.

use toml::Spanned;

use super::error::{ProfileError, Source};

/// `[agents]` into a launcher spec; paths are taken relative to the profile.
pub(super) fn agents_config(
    src: &Source,
    raw: Spanned<super::schema::RawAgents>,
) -> Result<crate::spec::agents::AgentsSpec, ProfileError> {
    use crate::spec::agents::{AgentsSpec, MAX_AGENTS};
    let span = raw.span();
    let a = raw.into_inner();
    let relative = |p: &str| {
        let p = std::path::Path::new(p);
        match std::path::Path::new(src.path).parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_owned(),
        }
    };
    let count = |what: &str| -> Result<usize, ProfileError> {
        match &a.count {
            Some(c) if (1..=MAX_AGENTS as i64).contains(c.get_ref()) => Ok(*c.get_ref() as usize),
            Some(c) => Err(src.at(
                c.span(),
                format!(
                    "agents.count: must be 1 to {MAX_AGENTS}, got {}",
                    c.get_ref()
                ),
            )),
            None => Err(src.at(
                span.clone(),
                format!("agents.count: {what} agents need a count"),
            )),
        }
    };
    let unused = |field: &str, present: bool| -> Result<(), ProfileError> {
        if present {
            Err(src.at(
                span.clone(),
                format!(
                    "agents.{field}: not used with kind = \"{}\"",
                    a.kind.get_ref()
                ),
            ))
        } else {
            Ok(())
        }
    };
    match a.kind.get_ref().as_str() {
        "local" => {
            unused("addresses", a.addresses.is_some())?;
            unused("namespace", a.namespace.is_some())?;
            unused("image", a.image.is_some())?;
            unused("job_template", a.job_template.is_some())?;
            Ok(AgentsSpec::Local { count: count("local")? })
        }
        "static" => {
            unused("count", a.count.is_some())?;
            let Some(addrs) = &a.addresses else {
                return Err(src.at(span, "agents.addresses: static agents need their HOST:PORT addresses"));
            };
            if addrs.get_ref().is_empty() || addrs.get_ref().len() > MAX_AGENTS {
                return Err(src.at(addrs.span(), format!("agents.addresses: give 1 to {MAX_AGENTS} addresses")));
            }
            for x in addrs.get_ref() {
                crate::spec::agents::check_address(x)
                    .map_err(|e| src.at(addrs.span(), format!("agents.addresses: {e}")))?;
            }
            Ok(AgentsSpec::Static {
                addresses: addrs.get_ref().clone(),
                token_file: a.token_file.as_deref().map(relative),
            })
        }
        "kubernetes" => Ok(AgentsSpec::Kubernetes {
            count: count("kubernetes")?,
            namespace: a.namespace.clone(),
            image: a.image.clone(),
            job_template: a.job_template.as_deref().map(relative),
        }),
        other => Err(src.at(
            a.kind.span(),
            format!("agents.kind: '{other}' is not a kind of agents; use \"local\", \"static\" or \"kubernetes\""),
        )),
    }
}
