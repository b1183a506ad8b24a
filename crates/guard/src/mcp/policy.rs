//! A resource server's tool map and the per-tool decision.
//!
//! mcpgate publishes each resource server's policy (see [`PolicyDocument`]): its scopes, what
//! each implies, and the MCP tools each covers, as exact names or prefix patterns ending in `*`.
//! A tool may be called with a token that holds (directly, or through an implication) any scope
//! that covers it. A tool no scope covers is refused, or allowed to any valid token, as the
//! document's `unmapped_tools` says.

use serde::{Deserialize, Serialize};

use crate::scope::ScopePolicy;

/// Longest tool name (and pattern) accepted, in bytes (MCP 2025-11-25: 1 to 128 characters).
pub const MAX_TOOL_NAME: usize = 128;

/// What happens to a tool that no scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Unmapped {
    /// Refused (the default: a new tool on the upstream is closed until mapped).
    #[default]
    Deny,
    /// Allowed to any valid token for the resource.
    Allow,
}

/// One scope of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyScope {
    /// The scope token.
    pub name: String,
    /// Scopes it implies (direct edges).
    #[serde(default)]
    pub implies: Vec<String>,
    /// Tools it covers: exact names, or prefixes ending in `*`.
    #[serde(default)]
    pub tools: Vec<String>,
}

/// A resource server's policy as mcpgate serves it at `/resource-policy?resource=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// The resource (the token audience).
    pub resource: String,
    /// Every scope of the resource, sorted (the `scopes_supported` of RFC 9728 metadata).
    pub scopes_supported: Vec<String>,
    /// The scopes with their implications and tools.
    pub scopes: Vec<PolicyScope>,
    /// What happens to a tool no scope covers.
    #[serde(default)]
    pub unmapped_tools: Unmapped,
}

/// Checks a tool pattern: 1 to [`MAX_TOOL_NAME`] bytes of `A–Z a–z 0–9 _ - . /`, optionally
/// ending in one `*` (alone, it covers every tool).
pub fn check_tool_pattern(p: &str) -> Result<(), &'static str> {
    let stem = p.strip_suffix('*').unwrap_or(p);
    if p.is_empty() || p.len() > MAX_TOOL_NAME {
        return Err("tool names have 1 to 128 characters");
    }
    if !stem
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
    {
        return Err("tool names use A-Z a-z 0-9 _ - . / (and a final * for a prefix)");
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn parse(p: &str) -> Self {
        match p.strip_suffix('*') {
            Some(stem) => Pattern::Prefix(stem.to_owned()),
            None => Pattern::Exact(p.to_owned()),
        }
    }

    fn matches(&self, tool: &str) -> bool {
        match self {
            Pattern::Exact(t) => t == tool,
            Pattern::Prefix(p) => tool.starts_with(p.as_str()),
        }
    }
}

/// Why a tool call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolDenied {
    /// No scope covers the tool and the policy refuses unmapped tools.
    Unmapped,
    /// The token holds none of the scopes that cover the tool.
    Insufficient {
        /// The scopes that cover it (any one suffices), in policy order.
        scopes: Vec<String>,
    },
}

impl ToolDenied {
    /// A short reason, for counters and logs: `unmapped` or `insufficient_scope`.
    pub fn reason(&self) -> &'static str {
        match self {
            ToolDenied::Unmapped => "unmapped",
            ToolDenied::Insufficient { .. } => "insufficient_scope",
        }
    }
}

/// A compiled [`PolicyDocument`].
#[derive(Debug, Clone)]
pub struct ToolPolicy {
    hierarchy: ScopePolicy,
    covers: Vec<(Pattern, String)>,
    unmapped: Unmapped,
    scopes_supported: Vec<String>,
}

impl ToolPolicy {
    /// Compiles a policy. Patterns that [`check_tool_pattern`] refuses are ignored (mcpgate
    /// never publishes them), as are implications naming unknown scopes.
    pub fn new(doc: &PolicyDocument) -> Self {
        let mut b = ScopePolicy::builder();
        let mut covers = Vec::new();
        for s in &doc.scopes {
            for i in &s.implies {
                b = b.implies(s.name.clone(), i.clone());
            }
            for t in &s.tools {
                if check_tool_pattern(t).is_ok() {
                    covers.push((Pattern::parse(t), s.name.clone()));
                }
            }
        }
        ToolPolicy {
            hierarchy: b.build(),
            covers,
            unmapped: doc.unmapped_tools,
            scopes_supported: doc.scopes_supported.clone(),
        }
    }

    /// The scopes that cover `tool`, in policy order, without repeats.
    pub fn covering(&self, tool: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for (p, s) in &self.covers {
            if p.matches(tool) && !out.contains(&s.as_str()) {
                out.push(s);
            }
        }
        out
    }

    /// May a token holding `granted` call `tool`?
    pub fn decide<'a>(
        &self,
        tool: &str,
        granted: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), ToolDenied> {
        let covering = self.covering(tool);
        if covering.is_empty() {
            return match self.unmapped {
                Unmapped::Allow => Ok(()),
                Unmapped::Deny => Err(ToolDenied::Unmapped),
            };
        }
        let held = covering.iter().any(|c| {
            granted
                .clone()
                .into_iter()
                .any(|g| self.hierarchy.implies(g, c))
        });
        if held {
            Ok(())
        } else {
            Err(ToolDenied::Insufficient {
                scopes: covering.into_iter().map(str::to_owned).collect(),
            })
        }
    }

    /// Every scope of the resource (for RFC 9728 metadata and 401 challenges).
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(unmapped: Unmapped) -> PolicyDocument {
        PolicyDocument {
            resource: "https://mcp.example.com/mcp".into(),
            scopes_supported: vec![
                "notes.admin".into(),
                "notes.read".into(),
                "notes.write".into(),
            ],
            scopes: vec![
                PolicyScope {
                    name: "notes.read".into(),
                    implies: vec![],
                    tools: vec!["list_notes".into(), "get_*".into()],
                },
                PolicyScope {
                    name: "notes.write".into(),
                    implies: vec!["notes.read".into()],
                    tools: vec!["create_note".into(), "get_secret".into()],
                },
                PolicyScope {
                    name: "notes.admin".into(),
                    implies: vec!["notes.write".into()],
                    tools: vec!["purge".into()],
                },
            ],
            unmapped_tools: unmapped,
        }
    }

    #[test]
    fn a_tool_is_callable_with_any_scope_that_covers_it_or_implies_one_that_does() {
        let p = ToolPolicy::new(&doc(Unmapped::Deny));
        assert_eq!(p.decide("list_notes", ["notes.read"]), Ok(()));
        assert_eq!(p.decide("get_note", ["notes.read"]), Ok(()));
        assert_eq!(p.decide("list_notes", ["notes.admin"]), Ok(()));
        assert_eq!(p.decide("get_secret", ["notes.read"]), Ok(()));
        assert_eq!(
            p.decide("create_note", ["notes.read"]),
            Err(ToolDenied::Insufficient {
                scopes: vec!["notes.write".into()]
            })
        );
        assert_eq!(
            p.decide("purge", ["notes.write", "notes.read"]),
            Err(ToolDenied::Insufficient {
                scopes: vec!["notes.admin".into()]
            })
        );
    }

    #[test]
    fn patterns_match_prefixes_only_and_names_exactly() {
        let p = ToolPolicy::new(&doc(Unmapped::Deny));
        assert_eq!(p.covering("get_secret"), vec!["notes.read", "notes.write"]);
        assert_eq!(p.covering("list_notes2"), Vec::<&str>::new());
        assert_eq!(p.covering("xget_note"), Vec::<&str>::new());
        assert_eq!(
            p.decide("List_notes", ["notes.admin"]),
            Err(ToolDenied::Unmapped)
        );
    }

    #[test]
    fn an_unmapped_tool_is_refused_or_allowed_as_the_policy_says() {
        let deny = ToolPolicy::new(&doc(Unmapped::Deny));
        assert_eq!(
            deny.decide("weather", ["notes.admin"]),
            Err(ToolDenied::Unmapped)
        );
        let allow = ToolPolicy::new(&doc(Unmapped::Allow));
        assert_eq!(allow.decide("weather", std::iter::empty()), Ok(()));
        assert_eq!(
            allow.decide("purge", ["notes.read"]),
            Err(ToolDenied::Insufficient {
                scopes: vec!["notes.admin".into()]
            })
        );
    }

    #[test]
    fn a_star_alone_covers_every_tool() {
        let mut d = doc(Unmapped::Deny);
        d.scopes[0].tools = vec!["*".into()];
        let p = ToolPolicy::new(&d);
        assert_eq!(p.decide("anything", ["notes.read"]), Ok(()));
        assert!(p.decide("anything", ["other"]).is_err());
    }

    #[test]
    fn tool_patterns_are_checked() {
        for ok in ["a", "get_*", "*", "ns/tool.v2-x", &"x".repeat(128)] {
            assert_eq!(check_tool_pattern(ok), Ok(()), "{ok}");
        }
        for bad in ["", "a b", "*x*", "x**", "é", "a\n", &"x".repeat(129)] {
            assert!(check_tool_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_document_reads_with_defaults() {
        let d: PolicyDocument = serde_json::from_str(
            r#"{"resource":"https://r","scopes_supported":["a"],"scopes":[{"name":"a"}]}"#,
        )
        .unwrap();
        assert_eq!(d.unmapped_tools, Unmapped::Deny);
        assert!(d.scopes[0].tools.is_empty());
    }
}
