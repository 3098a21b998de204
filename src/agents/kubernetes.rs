//! The Kubernetes launcher: an Indexed Job of agent pods, reached through the API server's port-forward, deleted at the end.
//!
//! The coordinator creates a Secret holding a fresh token and an Indexed
//! Job (`manifests/agent-job.yaml`, or the operator's `job_template`) with
//! one pod per agent, waits for the pods to be Ready, and reaches each
//! agent through `pods/portforward` on the API server, as
//! `kubectl port-forward` does: the operator's machine needs only its
//! kubeconfig, the pods need no Service and no route back. A pod that
//! comes back under an index (the Job controller replaces a deleted or
//! failed pod) is offered to the coordinator as a joiner. At the end (and
//! on q, Ctrl-C, SIGTERM, or a panic that unwinds) the Job is deleted with
//! its pods, and the Secret with it. RBAC: `manifests/agent-rbac.yaml`.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::Api;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::launch::{Dial, Fleet, Launch, Launched};
use super::{AgentsError, AgentsSpec};
use crate::util::secret::Token;

/// The default Job template (the one in `manifests/`).
pub const JOB_TEMPLATE: &str = include_str!("../../manifests/agent-job.yaml");
/// The agent's port in the pod when the template names none.
const AGENT_PORT: u16 = 7070;
/// How long the pods may take to be Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
const INDEX_LABEL: &str = "batch.kubernetes.io/job-completion-index";
const JOB_LABEL: &str = "batch.kubernetes.io/job-name";

fn kube_err(what: &str, e: impl std::fmt::Display) -> AgentsError {
    AgentsError::Kube(format!("{what}: {e}"))
}

/// Deletes the Job and the Secret when asked, or when dropped undeleted
/// (a panic unwinding through the coordinator).
pub struct JobGuard {
    jobs: Api<Job>,
    secrets: Api<Secret>,
    pub name: String,
    pub namespace: String,
    deleted: bool,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl JobGuard {
    pub async fn delete(mut self: Box<Self>) {
        self.deleted = true;
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        delete_both(&self.jobs, &self.secrets, &self.name).await;
    }
}

async fn delete_both(jobs: &Api<Job>, secrets: &Api<Secret>, name: &str) {
    // Background: the Job goes now, the garbage collector takes its pods.
    if let Err(e) = jobs.delete(name, &DeleteParams::background()).await {
        if !matches!(&e, kube::Error::Api(s) if s.code == 404) {
            crate::util::text::stderr_line!("warning: could not delete the agents' Job {name}: {e}; delete it by hand (kubectl delete job {name})");
        }
    }
    let _ = secrets.delete(name, &DeleteParams::default()).await;
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        let (jobs, secrets, name) = (self.jobs.clone(), self.secrets.clone(), self.name.clone());
        // No runtime to await on while unwinding: a thread with its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(10),
                        delete_both(&jobs, &secrets, &name),
                    )
                    .await;
                });
            }
        })
        .join();
    }
}

/// The Job to create: the template with this run's name, size, image,
/// target and Secret filled in.
pub fn job_manifest(
    template: &str,
    name: &str,
    count: usize,
    image: Option<&str>,
    target: &str,
) -> Result<(Value, u16), String> {
    let mut job: Value =
        serde_saphyr::from_str(template).map_err(|e| format!("the Job template: {e}"))?;
    if job["kind"] != "Job" {
        return Err("the Job template must be a batch/v1 Job".into());
    }
    job["metadata"]["name"] = json!(name);
    if let Some(m) = job["metadata"].as_object_mut() {
        m.remove("namespace");
        m.remove("generateName");
    }
    let spec = &mut job["spec"];
    spec["completionMode"] = json!("Indexed");
    spec["completions"] = json!(count);
    spec["parallelism"] = json!(count);
    spec["template"]["metadata"]["labels"]["rampdeck.dev/agents"] = json!(name);
    let containers = spec["template"]["spec"]["containers"]
        .as_array_mut()
        .filter(|c| !c.is_empty())
        .ok_or("the Job template has no container")?;
    let c = &mut containers[0];
    if let Some(image) = image {
        c["image"] = json!(image);
    }
    let port = c["ports"]
        .as_array()
        .and_then(|ps| ps.first())
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(AGENT_PORT);
    let env = c["env"].as_array_mut();
    let mut env = env.map(std::mem::take).unwrap_or_default();
    env.retain(|e| {
        e["name"] != "RAMPDECK_AGENT_ALLOW" && e["name"] != crate::util::secret::AGENT_TOKEN_ENV
    });
    env.push(json!({"name": "RAMPDECK_AGENT_ALLOW", "value": target}));
    env.push(json!({"name": crate::util::secret::AGENT_TOKEN_ENV, "valueFrom": {"secretKeyRef": {"name": name, "key": "token"}}}));
    c["env"] = json!(env);
    Ok((job, port))
}

/// A pod that can take a share: Running, Ready, not being deleted.
fn ready_index(p: &Pod) -> Option<u32> {
    if p.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = p.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") {
        return None;
    }
    let ready = status
        .conditions
        .as_ref()?
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !ready {
        return None;
    }
    p.metadata.labels.as_ref()?.get(INDEX_LABEL)?.parse().ok()
}

fn pod_state(p: &Pod) -> String {
    let name = p.metadata.name.clone().unwrap_or_default();
    let status = p.status.as_ref();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone());
    match waiting {
        Some(w) => format!("{name} {phase} ({w})"),
        None => format!("{name} {phase}"),
    }
}

pub async fn launch(
    spec: &AgentsSpec,
    target: &str,
    settings: Option<&crate::spec::kube::KubeSettings>,
) -> Result<Launch, AgentsError> {
    let AgentsSpec::Kubernetes {
        count,
        namespace,
        image,
        job_template,
    } = spec
    else {
        return Err(AgentsError::Kube("not a kubernetes spec".into()));
    };
    let mut settings = settings.cloned().unwrap_or_default();
    if namespace.is_some() {
        settings.namespace = namespace.clone();
    }
    let ctx = crate::kube::KubeContext::connect(&settings)
        .await
        .map_err(|e| AgentsError::Kube(e.to_string()))?;
    let ns = ctx.namespace.clone();
    let client = ctx.client();
    let template = match job_template {
        Some(p) => crate::util::files::read_text(p, crate::util::files::MANIFEST)
            .map_err(|e| AgentsError::Plan(format!("the Job template: {e}")))?,
        None => JOB_TEMPLATE.to_owned(),
    };
    let token =
        Token::random().map_err(|e| AgentsError::Token(format!("cannot make a token: {e}")))?;
    let suffix = &Token::random()
        .map_err(|e| AgentsError::Token(e.to_string()))?
        .expose()[..6]
        .to_owned();
    let name = format!("rampdeck-agents-{suffix}");
    let (manifest, port) = job_manifest(&template, &name, *count, image.as_deref(), target)
        .map_err(AgentsError::Plan)?;
    let job: Job = serde_json::from_value(manifest)
        .map_err(|e| AgentsError::Plan(format!("the Job template: {e}")))?;
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "labels": {"rampdeck.dev/agents": name}},
        "stringData": {"token": token.expose()},
    }))
    .map_err(|e| kube_err("the token Secret", e))?;
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .map_err(|e| {
            kube_err(
                &format!("create Secret {name} in {ns} ({})", ctx.describe),
                e,
            )
        })?;
    let mut guard = Box::new(JobGuard {
        jobs: jobs.clone(),
        secrets,
        name: name.clone(),
        namespace: ns.clone(),
        deleted: false,
        watcher: None,
    });
    jobs.create(&PostParams::default(), &job)
        .await
        .map_err(|e| kube_err(&format!("create Job {name} in {ns}"), e))?;
    crate::util::text::stderr_line!(
        "agents: created Job {ns}/{name} ({count} pods); waiting for them to be Ready"
    );
    let selector = ListParams::default().labels(&format!("{JOB_LABEL}={name}"));
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let ready = loop {
        let list = pods
            .list(&selector)
            .await
            .map_err(|e| kube_err(&format!("list the pods of Job {name}"), e))?;
        let mut by_index: std::collections::BTreeMap<u32, String> = Default::default();
        for p in &list.items {
            if let (Some(i), Some(n)) = (ready_index(p), p.metadata.name.clone()) {
                by_index.entry(i).or_insert(n);
            }
        }
        if by_index.len() >= *count {
            break by_index;
        }
        if tokio::time::Instant::now() >= deadline {
            let states: Vec<String> = list.items.iter().map(pod_state).collect();
            return Err(AgentsError::Kube(format!(
                "{} of {count} agent pods Ready after {}s: {}",
                by_index.len(),
                READY_TIMEOUT.as_secs(),
                if states.is_empty() {
                    "no pods yet".into()
                } else {
                    states.join(", ")
                }
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let known: BTreeSet<String> = ready.values().cloned().collect();
    let agents = ready
        .iter()
        .map(|(i, pod)| Launched {
            name: format!("agent-{i}"),
            dial: Dial::PortForward {
                pods: pods.clone(),
                pod: pod.clone(),
                port,
            },
            pid: None,
        })
        .collect();
    let (tx, rx) = mpsc::unbounded_channel();
    guard.watcher = Some(tokio::spawn(watch_joiners(pods, selector, known, port, tx)));
    Ok(Launch {
        agents,
        token,
        fleet: Fleet::Kubernetes(guard),
        joins: Some(rx),
    })
}

/// Offers each new Ready pod of the Job (a replacement under an index) as a joiner.
async fn watch_joiners(
    pods: Api<Pod>,
    selector: ListParams,
    mut known: BTreeSet<String>,
    port: u16,
    tx: mpsc::UnboundedSender<Launched>,
) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(list) = pods.list(&selector).await else {
            continue;
        };
        for p in &list.items {
            let (Some(i), Some(n)) = (ready_index(p), p.metadata.name.clone()) else {
                continue;
            };
            if known.insert(n.clone()) {
                let joined = Launched {
                    name: format!("agent-{i}"),
                    dial: Dial::PortForward {
                        pods: pods.clone(),
                        pod: n,
                        port,
                    },
                    pid: None,
                };
                if tx.send(joined).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_gets_this_runs_name_size_target_and_secret() {
        let (job, port) =
            job_manifest(JOB_TEMPLATE, "rampdeck-agents-x", 4, Some("img:1"), "gw:80").unwrap();
        assert_eq!(port, 7070);
        assert_eq!(job["spec"]["completions"], 4);
        assert_eq!(job["spec"]["completionMode"], "Indexed");
        let c = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "img:1");
        let env = c["env"].as_array().unwrap();
        assert!(env
            .iter()
            .any(|e| e["name"] == "RAMPDECK_AGENT_ALLOW" && e["value"] == "gw:80"));
        assert!(env
            .iter()
            .any(|e| e["valueFrom"]["secretKeyRef"]["name"] == "rampdeck-agents-x"));
        let _: Job = serde_json::from_value(job).unwrap();
        assert!(job_manifest("kind: Pod\n", "x", 1, None, "gw:80").is_err());
    }
}
