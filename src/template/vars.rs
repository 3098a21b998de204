//! `{{var}}` substitution in manifests, URLs, bodies and argv, with unknown names reported.

use std::collections::BTreeMap;

/// Values for one firing of an action.
pub type Vars = BTreeMap<String, String>;

/// Replaces every `{{name}}` (spaces inside the braces allowed) with its value.
/// An unknown name is an error naming it and the names that exist.
pub fn render(text: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return Ok(out);
        };
        let name = after[..close].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            None => {
                return Err(format!(
                    "unknown variable '{{{{{name}}}}}': known are {}",
                    known(vars)
                ))
            }
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The `{{name}}`s a text uses.
pub fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        out.push(after[..close].trim().to_owned());
        rest = &after[close + 2..];
    }
    out
}

fn known(vars: &Vars) -> String {
    if vars.is_empty() {
        return "none".into();
    }
    vars.keys()
        .map(|k| format!("{{{{{k}}}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders every string inside a JSON value (keys stay as they are).
pub fn render_json(v: &serde_json::Value, vars: &Vars) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => Value::String(render(s, vars)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_json(x, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), render_json(x, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("i", "7"), ("backend", "echo-v2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn fills_in_and_names_unknowns() {
        assert_eq!(
            render("route-{{i}} -> {{ backend }}", &vars()).unwrap(),
            "route-7 -> echo-v2"
        );
        let err = render("{{nope}}", &vars()).unwrap_err();
        assert!(
            err.contains("'{{nope}}'") && err.contains("{{backend}}, {{i}}"),
            "{err}"
        );
        assert_eq!(render("a {{ b", &vars()).unwrap(), "a {{ b");
        assert_eq!(names("x {{i}} {{ backend}}"), vec!["i", "backend"]);
    }

    #[test]
    fn renders_json_strings_only() {
        let v = serde_json::json!({"name": "route-{{i}}", "port": 8080, "refs": ["{{backend}}"]});
        let r = render_json(&v, &vars()).unwrap();
        assert_eq!(
            r,
            serde_json::json!({"name": "route-7", "port": 8080, "refs": ["echo-v2"]})
        );
    }
}
