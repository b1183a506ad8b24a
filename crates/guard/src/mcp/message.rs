//! What a Streamable HTTP POST asks for: the JSON-RPC message in its body, checked against the
//! SEP-2243 headers (`Mcp-Method`, `Mcp-Name`) when the client sends them.
//!
//! A gateway decides on what it reads here and forwards the same bytes, so the reading must be
//! the one the upstream server will make: duplicate members (`{"method":"tools/list",
//! "method":"tools/call"}`) are refused rather than resolved, as are JSON-RPC batches (removed
//! in MCP 2025-06-18) and bodies that are not one JSON object.

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

/// JSON-RPC error code of a header that disagrees with the body (MCP 2026-07-28,
/// `HeaderMismatch`), answered with HTTP 400.
pub const HEADER_MISMATCH: i64 = -32020;
/// JSON-RPC `Invalid Request`.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC `Parse error`.
pub const PARSE_ERROR: i64 = -32700;

/// A POST body, as far as authorization needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    /// The JSON-RPC method; `None` for a response the client posts back (to a server request
    /// such as sampling or elicitation).
    pub method: Option<String>,
    /// The name the method acts on: `params.name` of `tools/call` and `prompts/get`,
    /// `params.uri` of `resources/read`, `resources/subscribe` and `resources/unsubscribe`.
    pub name: Option<String>,
    /// The request id (`None` for notifications and responses), echoed in JSON-RPC errors.
    pub id: Option<Value>,
}

impl Inspected {
    /// The tool a `tools/call` calls.
    pub fn tool(&self) -> Option<&str> {
        match self.method.as_deref() {
            Some("tools/call") => self.name.as_deref(),
            _ => None,
        }
    }
}

/// Why a body is refused (HTTP 400 with a JSON-RPC error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// Not a JSON object (or not JSON at all).
    Parse,
    /// A JSON-RPC batch.
    Batch,
    /// An object that is not a JSON-RPC 2.0 message this gateway can route (duplicate members,
    /// a non-string method or name, a `tools/call` without a name).
    Invalid(&'static str),
    /// A SEP-2243 header disagrees with the body (or is malformed).
    HeaderMismatch(&'static str),
}

impl MessageError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            MessageError::Parse => PARSE_ERROR,
            MessageError::Batch | MessageError::Invalid(_) => INVALID_REQUEST,
            MessageError::HeaderMismatch(_) => HEADER_MISMATCH,
        }
    }

    /// A message for the JSON-RPC error.
    pub fn message(&self) -> &'static str {
        match self {
            MessageError::Parse => "body is not a JSON object",
            MessageError::Batch => "JSON-RPC batches are not supported",
            MessageError::Invalid(m) | MessageError::HeaderMismatch(m) => m,
        }
    }
}

// serde's derive refuses a duplicate member of a struct, which is the point of reading into
// these rather than into `Value`.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    jsonrpc: Option<String>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default)]
    params: Option<Params>,
}

/// `params`, read only from an object (serde's derive would also take an array) and refusing
/// a repeated `name` or `uri`.
struct Params {
    name: Option<Value>,
    uri: Option<Value>,
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> serde::de::Visitor<'de> for Object {
            type Value = Params;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Params, A::Error> {
                let mut p = Params {
                    name: None,
                    uri: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "name" => &mut p.name,
                        "uri" => &mut p.uri,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    if slot.is_some() {
                        return Err(serde::de::Error::custom("duplicate member in params"));
                    }
                    *slot = Some(map.next_value()?);
                }
                Ok(p)
            }
        }
        d.deserialize_map(Object)
    }
}

/// Which `params` member names the target of `method`, if any.
fn name_member(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => Some("uri"),
        _ => None,
    }
}

/// Decodes a SEP-2243 header value: plain visible ASCII as is, anything else sent as
/// `=?base64?<standard base64 of the UTF-8>?=`.
pub fn decode_header_value(raw: &str) -> Option<String> {
    match raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
        None => Some(raw.to_owned()),
    }
}

/// Reads `body` and checks it against the `Mcp-Method` and `Mcp-Name` headers (if sent).
///
/// With `Mcp-Method`, the client follows SEP-2243: the method must equal the body's, and the
/// methods that name a target must carry `Mcp-Name` equal to it. Without it (clients older
/// than MCP 2026-07-28) the body alone decides, and a stray `Mcp-Name` must still agree.
pub fn inspect(
    body: &[u8],
    method_header: Option<&str>,
    name_header: Option<&str>,
) -> Result<Inspected, MessageError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'{') => {}
        Some(b'[') => return Err(MessageError::Batch),
        _ => return Err(MessageError::Parse),
    }
    let env: Envelope = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            MessageError::Invalid("not a JSON-RPC 2.0 message (duplicate or mistyped member)")
        } else {
            MessageError::Parse
        }
    })?;
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(MessageError::Invalid("jsonrpc must be \"2.0\""));
    }
    let method = match env.method {
        None => None,
        Some(Value::String(m)) => Some(m),
        Some(_) => return Err(MessageError::Invalid("method must be a string")),
    };
    let name = match (method.as_deref().and_then(name_member), &env.params) {
        (Some(member), Some(p)) => {
            let v = if member == "name" { &p.name } else { &p.uri };
            match v {
                None => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(MessageError::Invalid("params.name/uri must be a string")),
            }
        }
        _ => None,
    };
    if method.as_deref() == Some("tools/call") && name.is_none() {
        return Err(MessageError::Invalid("tools/call needs params.name"));
    }
    if let Some(h) = method_header {
        if method.as_deref() != Some(h.trim()) {
            return Err(MessageError::HeaderMismatch(
                "Mcp-Method does not match the body's method",
            ));
        }
        if method.as_deref().and_then(name_member).is_some() && name_header.is_none() {
            return Err(MessageError::HeaderMismatch(
                "Mcp-Name is required for this method",
            ));
        }
    }
    if let Some(h) = name_header {
        let decoded = decode_header_value(h.trim())
            .ok_or(MessageError::HeaderMismatch("Mcp-Name is not valid"))?;
        if name.as_deref() != Some(decoded.as_str()) {
            return Err(MessageError::HeaderMismatch(
                "Mcp-Name does not match the body's name",
            ));
        }
    }
    Ok(Inspected {
        method,
        name,
        id: env.id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &[u8] =
        br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_note","arguments":{}}}"#;

    #[test]
    fn a_tool_call_is_read_from_the_body_with_or_without_headers() {
        let a = inspect(CALL, None, None).unwrap();
        assert_eq!(a.tool(), Some("get_note"));
        assert_eq!(a.id, Some(Value::from(7)));
        let b = inspect(CALL, Some("tools/call"), Some("get_note")).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn headers_that_disagree_with_the_body_are_refused() {
        assert_eq!(
            inspect(CALL, Some("tools/list"), Some("get_note"))
                .unwrap_err()
                .code(),
            HEADER_MISMATCH
        );
        assert_eq!(
            inspect(CALL, Some("tools/call"), Some("create_note"))
                .unwrap_err()
                .code(),
            HEADER_MISMATCH
        );
        assert_eq!(
            inspect(CALL, None, Some("create_note")).unwrap_err().code(),
            HEADER_MISMATCH
        );
        // A SEP-2243 client must name the tool in the header too.
        assert_eq!(
            inspect(CALL, Some("tools/call"), None).unwrap_err().code(),
            HEADER_MISMATCH
        );
        let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert_eq!(
            inspect(list, Some("tools/list"), Some("get_note"))
                .unwrap_err()
                .code(),
            HEADER_MISMATCH
        );
    }

    #[test]
    fn base64_header_values_are_decoded_before_comparing() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"café"}}"#;
        let h = format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode("café")
        );
        assert!(inspect(body.as_bytes(), Some("tools/call"), Some(&h)).is_ok());
        assert!(inspect(body.as_bytes(), Some("tools/call"), Some("=?base64?!!?=")).is_err());
    }

    #[test]
    fn duplicate_members_are_refused_not_resolved() {
        for body in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"x"}}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","name":"b"}}"#,
        ] {
            assert!(matches!(inspect(body, None, None), Err(MessageError::Invalid(_))));
        }
    }

    #[test]
    fn batches_non_objects_and_malformed_messages_are_refused() {
        assert_eq!(inspect(b" [{}]", None, None), Err(MessageError::Batch));
        assert_eq!(inspect(b"\"x\"", None, None), Err(MessageError::Parse));
        assert_eq!(inspect(b"{", None, None), Err(MessageError::Parse));
        assert_eq!(inspect(b"", None, None), Err(MessageError::Parse));
        for body in [
            &br#"{"id":1,"method":"ping"}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":3}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["get_note"]}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"a","name":"b"}}"#,
        ] {
            assert!(
                matches!(inspect(body, None, None), Err(MessageError::Invalid(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn notifications_and_responses_carry_no_tool() {
        let n = inspect(
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            Some("notifications/initialized"),
            None,
        )
        .unwrap();
        assert_eq!(n.tool(), None);
        assert_eq!(n.id, None);
        let r = inspect(br#"{"jsonrpc":"2.0","id":3,"result":{}}"#, None, None).unwrap();
        assert_eq!(r.method, None);
        let read = inspect(
            br#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a"}}"#,
            Some("resources/read"),
            Some("file:///a"),
        )
        .unwrap();
        assert_eq!(read.name.as_deref(), Some("file:///a"));
        assert_eq!(read.tool(), None);
    }
}
