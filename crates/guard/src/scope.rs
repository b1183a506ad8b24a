//! Which scopes each MCP tool needs, with scope hierarchies.
//!
//! A scope (RFC 6749 §3.3) is an opaque token; OAuth defines no relation between scopes, but a
//! resource server may define one. [`ScopePolicy`] lets the server author declare that one scope
//! implies another (`notes.admin` ⇒ `notes.write` ⇒ `notes.read`, transitively) and which scopes
//! each tool requires (all of them). A token satisfies a requirement if it holds the required
//! scope or any scope that implies it.
//!
//! When a token lacks scopes, the MCP authorization spec and RFC 6750 §3.1 call for a 403 with
//! an `insufficient_scope` challenge naming the scopes needed:
//! [`ScopeError::Insufficient`] carries *all* scopes the tool requires, ready for
//! [`Challenges::insufficient_scope`](crate::challenge::Challenges::insufficient_scope).

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::token::VerifiedToken;

/// Why a call is not allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// The tool is not in the policy and no default requirement is set.
    UnknownTool,
    /// The token lacks at least one required scope.
    Insufficient {
        /// Every scope the tool requires (not only the missing ones), in policy order.
        required: Vec<String>,
    },
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScopeError::UnknownTool => f.write_str("tool has no scope requirement"),
            ScopeError::Insufficient { required } => {
                write!(f, "insufficient scope; requires: {}", required.join(" "))
            }
        }
    }
}

impl std::error::Error for ScopeError {}

/// Builds a [`ScopePolicy`].
#[derive(Debug, Clone, Default)]
pub struct ScopePolicyBuilder {
    implies: Vec<(String, String)>,
    tools: Vec<(String, Vec<String>)>,
    default: Option<Vec<String>>,
}

impl ScopePolicyBuilder {
    /// Declares that holding `higher` grants `lower` too (transitive; cycles are allowed and
    /// make the scopes equivalent).
    pub fn implies(mut self, higher: impl Into<String>, lower: impl Into<String>) -> Self {
        self.implies.push((higher.into(), lower.into()));
        self
    }

    /// Declares the scopes `tool` requires (all of them; none means any valid token). Declaring
    /// a tool again replaces its requirement.
    pub fn tool<S: Into<String>>(
        mut self,
        tool: impl Into<String>,
        required: impl IntoIterator<Item = S>,
    ) -> Self {
        self.tools
            .push((tool.into(), required.into_iter().map(Into::into).collect()));
        self
    }

    /// The requirement for tools not declared with [`ScopePolicyBuilder::tool`]. Without it
    /// such tools are refused with [`ScopeError::UnknownTool`].
    pub fn default_scopes<S: Into<String>>(
        mut self,
        required: impl IntoIterator<Item = S>,
    ) -> Self {
        self.default = Some(required.into_iter().map(Into::into).collect());
        self
    }

    /// The policy, with the implication relation closed transitively.
    pub fn build(self) -> ScopePolicy {
        let mut direct: HashMap<&str, Vec<&str>> = HashMap::new();
        for (higher, lower) in &self.implies {
            direct.entry(higher).or_default().push(lower);
        }
        let mut grants: HashMap<String, HashSet<String>> = HashMap::new();
        for &start in direct.keys() {
            let mut seen: HashSet<String> = HashSet::new();
            let mut stack = vec![start];
            while let Some(s) = stack.pop() {
                for &next in direct.get(s).map(Vec::as_slice).unwrap_or_default() {
                    if seen.insert(next.to_owned()) {
                        stack.push(next);
                    }
                }
            }
            seen.remove(start);
            grants.insert(start.to_owned(), seen);
        }
        let mut all: BTreeSet<String> = BTreeSet::new();
        for (h, l) in &self.implies {
            all.insert(h.clone());
            all.insert(l.clone());
        }
        let mut tools = HashMap::new();
        for (tool, required) in self.tools {
            all.extend(required.iter().cloned());
            tools.insert(tool, required);
        }
        if let Some(d) = &self.default {
            all.extend(d.iter().cloned());
        }
        ScopePolicy {
            grants,
            tools,
            default: self.default,
            all: all.into_iter().collect(),
        }
    }
}

/// Tool → required scopes, with a scope hierarchy (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePolicy {
    /// scope → every other scope it implies (transitive closure).
    grants: HashMap<String, HashSet<String>>,
    tools: HashMap<String, Vec<String>>,
    default: Option<Vec<String>>,
    all: Vec<String>,
}

impl ScopePolicy {
    /// Starts a policy.
    pub fn builder() -> ScopePolicyBuilder {
        ScopePolicyBuilder::default()
    }

    /// The scopes `tool` requires (its own or the default), `None` if it is unknown.
    pub fn required(&self, tool: &str) -> Option<&[String]> {
        self.tools
            .get(tool)
            .or(self.default.as_ref())
            .map(Vec::as_slice)
    }

    /// True if holding `held` grants `scope` (equal, or implied through the hierarchy).
    pub fn implies(&self, held: &str, scope: &str) -> bool {
        held == scope || self.grants.get(held).is_some_and(|g| g.contains(scope))
    }

    /// True if the `granted` scopes satisfy every scope in `required`.
    pub fn satisfies<'a, S: AsRef<str>>(
        &self,
        granted: impl IntoIterator<Item = &'a str> + Clone,
        required: &[S],
    ) -> bool {
        required.iter().all(|r| {
            granted
                .clone()
                .into_iter()
                .any(|g| self.implies(g, r.as_ref()))
        })
    }

    /// May a caller holding `granted` scopes call `tool`?
    pub fn authorize_scopes<'a>(
        &self,
        tool: &str,
        granted: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Result<(), ScopeError> {
        let required = self.required(tool).ok_or(ScopeError::UnknownTool)?;
        if self.satisfies(granted, required) {
            Ok(())
        } else {
            Err(ScopeError::Insufficient {
                required: required.to_vec(),
            })
        }
    }

    /// May `token` call `tool`?
    pub fn authorize(&self, tool: &str, token: &VerifiedToken) -> Result<(), ScopeError> {
        self.authorize_scopes(tool, token.claims.scopes())
    }

    /// Every scope the policy mentions, sorted: the `scopes_supported` of the protected resource
    /// metadata (RFC 9728 §2).
    pub fn scopes_supported(&self) -> &[String] {
        &self.all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_handles_cycles() {
        let p = ScopePolicy::builder()
            .implies("a", "b")
            .implies("b", "a")
            .implies("b", "c")
            .build();
        assert!(p.implies("a", "c"));
        assert!(p.implies("b", "a"));
        assert!(!p.implies("c", "a"));
    }
}
