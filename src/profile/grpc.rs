//! `[[request]] kind = "grpc"`: the service and method checked against a descriptor set, the message encoded, metadata.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use prost_reflect::DescriptorPool;

use super::error::{ProfileError, Source};
use crate::spec::grpc::GrpcRequest;

/// The message and method of one gRPC request, before framing.
pub struct Built {
    pub grpc: Arc<GrpcRequest>,
    /// The encoded message (empty when it is templated).
    pub message: Vec<u8>,
    /// The JSON text when it has placeholders.
    pub template_json: Option<(String, std::ops::Range<usize>)>,
}

/// Where a file a profile names is: relative to the profile's directory.
pub fn beside(profile: &str, file: &str) -> PathBuf {
    let f = Path::new(file);
    match Path::new(profile).parent() {
        Some(dir) if f.is_relative() => dir.join(f),
        _ => f.to_owned(),
    }
}

/// Loads a descriptor set as `protoc --descriptor_set_out` (with
/// `--include_imports`) or `buf build -o` writes it.
pub fn load_pool(path: &Path) -> Result<DescriptorPool, String> {
    let bytes = crate::util::files::read_bytes(path, crate::util::files::DESCRIPTOR_SET)
        .map_err(|e| e.to_string())?;
    DescriptorPool::decode(bytes.as_slice()).map_err(|e| {
        format!(
            "{} is not a descriptor set ({e}); write one with `protoc --include_imports --descriptor_set_out={} your.proto`",
            path.display(),
            path.display()
        )
    })
}

/// The unary method `service`/`method` in `pool`, or an error naming what the pool has.
pub fn find_method(
    pool: &DescriptorPool,
    service: &str,
    method: &str,
) -> Result<prost_reflect::MethodDescriptor, String> {
    let Some(s) = pool.get_service_by_name(service) else {
        let known: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
        return Err(format!(
            "the descriptor set has no service '{service}' (it has: {}); give the full name with its package, e.g. \"{}\"",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") },
            known.first().map_or("pkg.Service", String::as_str)
        ));
    };
    let Some(m) = s.methods().find(|m| m.name() == method) else {
        let known: Vec<String> = s.methods().map(|m| m.name().to_owned()).collect();
        return Err(format!(
            "service {service} has no method '{method}' (it has: {})",
            known.join(", ")
        ));
    };
    if m.is_client_streaming() || m.is_server_streaming() {
        return Err(format!(
            "{service}/{method} is a streaming method; rampdeck sends unary calls only"
        ));
    }
    Ok(m)
}

/// The message as JSON text: a TOML string is JSON already, a table is converted.
fn json_text(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Table(_) => serde_json::to_string(v).map_err(|e| e.to_string()),
        other => Err(format!(
            "must be the message as JSON text ('{{\"text\": \"hi\"}}') or a table ({{ text = \"hi\" }}), not a {}",
            other.type_str()
        )),
    }
}

/// The raw fields of one gRPC `[[request]]`.
pub struct Raw<'a> {
    pub field: &'a str,
    pub span: std::ops::Range<usize>,
    pub service: Option<toml::Spanned<String>>,
    pub method: Option<toml::Spanned<String>>,
    pub message: Option<toml::Spanned<toml::Value>>,
    pub message_file: Option<toml::Spanned<String>>,
    pub descriptor_set: Option<toml::Spanned<String>>,
}

pub fn build(
    src: &Source,
    r: Raw<'_>,
    templated: impl Fn(&str) -> bool,
) -> Result<Built, ProfileError> {
    let field = r.field;
    let service = r.service.ok_or_else(|| {
        src.at(
            r.span.clone(),
            format!("{field}.service is missing: kind = \"grpc\" needs the full service name, e.g. service = \"rampdeck.demo.Echo\""),
        )
    })?;
    let method = r.method.ok_or_else(|| {
        src.at(
            r.span.clone(),
            format!("{field}.method is missing: kind = \"grpc\" needs the method's name, e.g. method = \"Say\""),
        )
    })?;
    let full_method = format!("{}/{}", service.get_ref(), method.get_ref());
    let ok_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    if !ok_name(service.get_ref()) {
        return Err(src.at(
            service.span(),
            format!(
                "{field}.service: '{}' is not a service name (letters, digits, '_' and '.')",
                service.get_ref()
            ),
        ));
    }
    if !ok_name(method.get_ref()) || method.get_ref().contains('.') {
        return Err(src.at(
            method.span(),
            format!(
                "{field}.method: '{}' is not a method name (letters, digits and '_')",
                method.get_ref()
            ),
        ));
    }
    match (r.message, r.message_file, r.descriptor_set) {
        (Some(m), Some(_), _) => Err(src.at(
            m.span(),
            format!("{field}: give the message either as message (JSON, with descriptor_set) or as message_file (raw protobuf bytes), not both"),
        )),
        (_, Some(f), _) => {
            let path = beside(src.path, f.get_ref());
            let message = crate::util::files::read_bytes(&path, crate::util::files::MESSAGE)
                .map_err(|e| src.at(f.span(), format!("{field}.message_file: {e}")))?;
            Ok(Built {
                grpc: Arc::new(GrpcRequest { full_method, input: None, message_json: None }),
                message,
                template_json: None,
            })
        }
        (Some(m), None, None) => Err(src.at(
            m.span(),
            format!("{field}.message is JSON, which needs the method's types: add descriptor_set = \"api.pb\" (protoc --include_imports --descriptor_set_out=api.pb api.proto), or give message_file with the encoded bytes"),
        )),
        (message, None, Some(ds)) => {
            let path = beside(src.path, ds.get_ref());
            let pool = load_pool(&path)
                .map_err(|e| src.at(ds.span(), format!("{field}.descriptor_set: {e}")))?;
            let m = find_method(&pool, service.get_ref(), method.get_ref()).map_err(|e| {
                let span = if e.contains("no service") { service.span() } else { method.span() };
                src.at(span, format!("{field}: {e}"))
            })?;
            let input = m.input();
            let (json, span) = match &message {
                Some(v) => (
                    json_text(v.get_ref()).map_err(|e| src.at(v.span(), format!("{field}.message: {e}")))?,
                    v.span(),
                ),
                None => ("{}".to_owned(), r.span.clone()),
            };
            if templated(&json) {
                return Ok(Built {
                    grpc: Arc::new(GrpcRequest {
                        full_method,
                        input: Some(input),
                        message_json: Some(json.clone()),
                    }),
                    message: Vec::new(),
                    template_json: Some((json, span)),
                });
            }
            let message = crate::util::grpc::encode_json(&input, &json)
                .map_err(|e| src.at(span, format!("{field}.message: {e}")))?;
            Ok(Built {
                grpc: Arc::new(GrpcRequest { full_method, input: Some(input), message_json: None }),
                message,
                template_json: None,
            })
        }
        (None, None, None) => Err(src.at(
            r.span,
            format!("{field}: a gRPC request needs its message: message (JSON) with descriptor_set = \"api.pb\", or message_file with the encoded bytes"),
        )),
    }
}

/// The body a gRPC request carries: its message, framed.
pub fn body(message: &[u8]) -> Bytes {
    rampdeck_base::grpc::frame(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_pool() -> DescriptorPool {
        load_pool(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/grpc/echo.pb")).unwrap()
    }

    #[test]
    fn the_demo_descriptor_set_has_its_unary_echo() {
        let pool = demo_pool();
        let m = find_method(&pool, "rampdeck.demo.Echo", "Say").unwrap();
        assert_eq!(m.input().full_name(), "rampdeck.demo.EchoRequest");
        let bytes =
            crate::util::grpc::encode_json(&m.input(), r#"{"text":"hi","seq":"7"}"#).unwrap();
        assert_eq!(bytes, b"\x0a\x02hi\x10\x07");
        assert!(
            crate::util::grpc::encode_json(&m.input(), r#"{"txt":"hi"}"#)
                .unwrap_err()
                .contains("txt")
        );
        assert!(find_method(&pool, "Echo", "Say")
            .unwrap_err()
            .contains("rampdeck.demo.Echo"));
        assert!(find_method(&pool, "rampdeck.demo.Echo", "Shout")
            .unwrap_err()
            .contains("it has: Say"));
    }
}
