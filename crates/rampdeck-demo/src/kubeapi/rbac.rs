//! Simulated RBAC: `[demo.kube] forbid` rules ("create configmaps") the API server answers
//! with 403 Forbidden, worded as kube-apiserver words it, so a test can see how rampdeck
//! reports a missing permission and what it tears down after one.

use hyper::Method;

use super::error::ApiError;
use super::resource::Kind;

/// The verbs a rule may name (those the demo's API serves).
pub const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// The service account the demo's kubeconfig stands for, in 403 messages.
pub const USER: &str = "system:serviceaccount:rampdeck:rampdeck";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub verb: &'static str,
    pub kind: Kind,
}

impl Rule {
    /// `"create configmaps"` or `"patch deployments.apps"`; `*` as the verb forbids all.
    pub fn parse(text: &str) -> Option<Vec<Rule>> {
        let mut words = text.split_whitespace();
        let (verb, resource) = (words.next()?, words.next()?);
        if words.next().is_some() {
            return None;
        }
        let kind = Kind::ALL.into_iter().find(|k| k.qualified() == resource)?;
        let verbs: Vec<&'static str> = if verb == "*" {
            VERBS.to_vec()
        } else {
            vec![*VERBS.iter().find(|v| **v == verb)?]
        };
        Some(verbs.into_iter().map(|verb| Rule { verb, kind }).collect())
    }
}

/// The rules of `[demo.kube] forbid` (validated when the profile was read;
/// a rule that does not parse forbids nothing).
pub fn rules(forbid: &[String]) -> Vec<Rule> {
    forbid
        .iter()
        .filter_map(|r| Rule::parse(r))
        .flatten()
        .collect()
}

/// The RBAC verb of a request: on one object or its collection.
pub fn verb(method: &Method, object: bool, watch: bool) -> Option<&'static str> {
    Some(match (method.as_str(), object) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", false) => "create",
        ("PUT", true) => "update",
        // Server-side apply is a patch to RBAC.
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    })
}

/// Err(403) when a rule forbids `verb` on `kind`.
pub fn check(
    rules: &[Rule],
    verb: &'static str,
    kind: Kind,
    namespace: Option<&str>,
    name: &str,
) -> Result<(), ApiError> {
    if !rules.iter().any(|r| r.verb == verb && r.kind == kind) {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        kind,
        name: name.to_owned(),
        message: format!(
            "User \"{USER}\" cannot {verb} resource \"{}\" in API group \"{}\"{}",
            kind.plural(),
            kind.group(),
            namespace.map_or_else(
                || " at the cluster scope".to_owned(),
                |ns| format!(" in the namespace \"{ns}\"")
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_a_verb_and_a_qualified_resource() {
        assert_eq!(
            Rule::parse("create configmaps"),
            Some(vec![Rule {
                verb: "create",
                kind: Kind::ConfigMap
            }])
        );
        assert_eq!(
            Rule::parse("patch deployments.apps").unwrap()[0].kind,
            Kind::Deployment
        );
        assert_eq!(Rule::parse("* secrets").unwrap().len(), VERBS.len());
        assert_eq!(Rule::parse("patch deployments"), None, "apps group missing");
        assert_eq!(Rule::parse("frob configmaps"), None);
        assert_eq!(Rule::parse("create"), None);
    }

    #[test]
    fn a_forbidden_request_is_worded_as_kube_apiserver_does() {
        let rules = rules(&["patch deployments.apps".to_owned()]);
        assert!(check(&rules, "get", Kind::Deployment, Some("ns"), "web").is_ok());
        let e = check(&rules, "patch", Kind::Deployment, Some("ns"), "web").unwrap_err();
        assert_eq!(e.code(), 403);
        assert_eq!(
            e.to_string(),
            "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:rampdeck:rampdeck\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"ns\""
        );
    }
}
