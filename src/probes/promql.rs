//! PromQL instant queries over a Prometheus server's HTTP API (`/api/v1/query`).

use serde::Deserialize;

#[derive(Deserialize)]
struct Response {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<VectorSample>),
    Scalar((f64, String)),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorSample {
    value: (f64, String),
}

/// The query URL for `query` against the server at `base` (e.g. http://127.0.0.1:9090).
pub fn query_url(base: &str, query: &str) -> String {
    format!(
        "{}/api/v1/query?query={}",
        base.trim_end_matches('/'),
        encode(query)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The value of an instant query: a scalar, or the sum of a vector's samples
/// (with how many series were summed).
pub fn parse(status: u16, body: &[u8]) -> Result<(f64, usize), String> {
    let r: Response = serde_json::from_slice(body).map_err(|e| {
        let head = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        format!("HTTP {status}: not a Prometheus API answer ({e}): '{head}'")
    })?;
    if r.status != "success" {
        return Err(format!(
            "PromQL error ({}): {}",
            r.error_type.unwrap_or_else(|| "unknown".into()),
            r.error.unwrap_or_else(|| "no message".into())
        ));
    }
    let number = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("PromQL returned '{s}', not a number"))
    };
    match r.data {
        Some(Data::Scalar((_, v))) => Ok((number(&v)?, 1)),
        Some(Data::Vector(samples)) if samples.is_empty() => {
            Err("the query matched no series".into())
        }
        Some(Data::Vector(samples)) => {
            let mut sum = 0.0;
            for s in &samples {
                sum += number(&s.value.1)?;
            }
            Ok((sum, samples.len()))
        }
        Some(Data::Matrix(_)) => Err(
            "the query returned a range vector; use an instant query such as sum(rate(x[1m]))"
                .into(),
        ),
        Some(Data::String(_)) | None => Err("the query returned no number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_queries() {
        assert_eq!(
            query_url("http://p:9090/", "sum(rate(x{a=\"b\"}[1m]))"),
            "http://p:9090/api/v1/query?query=sum%28rate%28x%7Ba%3D%22b%22%7D%5B1m%5D%29%29"
        );
    }

    #[test]
    fn parses_vectors_scalars_and_errors() {
        let v = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000.1,"0.25"]},{"metric":{"pod":"b"},"value":[1700000000.1,"0.5"]}]}}"#;
        assert_eq!(parse(200, v), Ok((0.75, 2)));
        let s =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"3"]}}"#;
        assert_eq!(parse(200, s), Ok((3.0, 1)));
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse(200, empty).unwrap_err().contains("no series"));
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(
            parse(400, bad).unwrap_err(),
            "PromQL error (bad_data): parse error at char 5"
        );
        assert!(parse(502, b"<html>bad gateway</html>")
            .unwrap_err()
            .contains("HTTP 502"));
    }
}
