//! `[[request]] kind = "grpc"`: what a gRPC request adds to its HTTP/2 POST.

use prost_reflect::MessageDescriptor;

/// What a gRPC request adds to its HTTP/2 POST.
#[derive(Debug, Clone)]
pub struct GrpcRequest {
    /// `package.Service/Method`.
    pub full_method: String,
    /// The request message's type, for a templated message encoded per call
    /// (None: the message is raw bytes from `message_file`).
    pub input: Option<MessageDescriptor>,
    /// The message's JSON when it has placeholders (rendered per call).
    pub message_json: Option<String>,
}
