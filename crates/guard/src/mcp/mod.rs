//! MCP-aware decisions for a gateway in front of an MCP server (no I/O, no clock):
//!
//! - [`policy`]: a resource server's tool map as mcpgate publishes it (scopes, implications,
//!   the tools each scope covers, what happens to a tool no scope covers), compiled into a
//!   [`ToolPolicy`] that decides per tool;
//! - [`message`]: what a Streamable HTTP POST asks for, read from its JSON-RPC body and checked
//!   against the SEP-2243 `Mcp-Method` / `Mcp-Name` headers;
//! - [`filter`]: `tools/list` answers (JSON, or an SSE stream fed chunk by chunk) cut down to
//!   the tools a token may call;
//! - [`identity`]: the signed statement of who is calling that replaces the client's token on
//!   the way to the upstream server (MCP forbids passing the token through).

pub mod filter;
pub mod identity;
pub mod message;
pub mod policy;

pub use filter::{filter_tools_list, SseToolsFilter};
pub use identity::{IdentityClaims, IdentitySigner};
pub use message::{inspect, Inspected, MessageError};
pub use policy::{PolicyDocument, PolicyScope, ToolDenied, ToolPolicy, Unmapped};
