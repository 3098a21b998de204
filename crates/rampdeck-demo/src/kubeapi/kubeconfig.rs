//! A kubeconfig for the demo's API server, so kubectl and kube-rs clients reach it with
//! `--kubeconfig` or `KUBECONFIG`: plain http, no credentials.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

/// Cluster, context and user name in the written kubeconfig.
pub const CONTEXT: &str = "rampdeck-demo";

/// A YAML string scalar; JSON's quoting is valid YAML and escapes everything needed.
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Kubeconfig text: cluster and context `rampdeck-demo` for `server` (e.g.
/// `http://127.0.0.1:40123`), the context's default namespace `namespace`, and a user with no
/// credentials.
pub fn kubeconfig_yaml(server: &str, namespace: &str) -> String {
    let ctx = quoted(CONTEXT);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {ctx}
  cluster:
    server: {server}
contexts:
- name: {ctx}
  context:
    cluster: {ctx}
    namespace: {namespace}
    user: {ctx}
current-context: {ctx}
users:
- name: {ctx}
  user: {{}}
preferences: {{}}
",
        server = quoted(server),
        namespace = quoted(namespace),
    )
}

/// Writes the kubeconfig for the control plane at `control` to `path` (owner-only on Unix),
/// replacing the file atomically so a concurrent kubectl never reads half of it.
pub fn write_kubeconfig(path: &Path, control: SocketAddr, namespace: &str) -> std::io::Result<()> {
    let text = kubeconfig_yaml(&format!("http://{control}"), namespace);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubeconfig".to_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_names_the_context_and_namespace() {
        let y = kubeconfig_yaml("http://127.0.0.1:1234", "rampdeck");
        assert!(y.contains("server: \"http://127.0.0.1:1234\""));
        assert!(y.contains("namespace: \"rampdeck\""));
        assert!(y.contains("current-context: \"rampdeck-demo\""));
    }
}
