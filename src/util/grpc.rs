//! gRPC messages from JSON: the canonical protobuf JSON mapping, by descriptor (framing is `rampdeck_base::grpc`).

/// Encodes a JSON message (the canonical protobuf JSON mapping) by its
/// descriptor; unknown fields are refused, so a typo is not sent as an
/// empty message.
pub fn encode_json(
    descriptor: &prost_reflect::MessageDescriptor,
    json: &str,
) -> Result<Vec<u8>, String> {
    let mut de = serde_json::Deserializer::from_str(json);
    let message = prost_reflect::DynamicMessage::deserialize(descriptor.clone(), &mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|e| format!("the JSON is not a valid {}: {e}", descriptor.full_name()))?;
    Ok(prost::Message::encode_to_vec(&message))
}
