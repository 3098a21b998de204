//! Starting the demo for a run or a scenario: its process, and a kubeconfig for its simulated Kubernetes API.

use std::path::{Path, PathBuf};

use super::config::DemoConfig;
use super::{DemoError, DemoProcess};

/// A started demo and where its kubeconfig went.
pub struct Launched {
    pub process: DemoProcess,
    /// The kubeconfig for the simulated API, or why it could not be written.
    pub kubeconfig: Result<PathBuf, String>,
    /// The kubeconfig is a temporary file (no `--out`), removed by `stop`.
    temporary: bool,
}

/// Starts the demo process and writes its kubeconfig into `out` (else a
/// temporary file named after `what` and this process).
pub async fn launch(
    config: &DemoConfig,
    out: Option<&Path>,
    what: &str,
) -> Result<Launched, DemoError> {
    let process = DemoProcess::spawn(config).await?;
    let path = match out {
        Some(dir) => dir.join("kubeconfig"),
        None => {
            std::env::temp_dir().join(format!("rampdeck-{what}-{}.kubeconfig", std::process::id()))
        }
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let kubeconfig = super::kubeapi::kubeconfig::write_kubeconfig(
        &path,
        process.addrs.control,
        &config.kube.namespace,
    )
    .map(|()| path.clone())
    .map_err(|e| format!("cannot write the demo kubeconfig {}: {e}", path.display()));
    Ok(Launched {
        process,
        temporary: out.is_none() && kubeconfig.is_ok(),
        kubeconfig,
    })
}

impl Launched {
    /// Stops the demo and removes a temporary kubeconfig.
    pub async fn stop(self) {
        self.process.shutdown().await;
        if let (true, Ok(p)) = (self.temporary, &self.kubeconfig) {
            let _ = std::fs::remove_file(p);
        }
    }
}
