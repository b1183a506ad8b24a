//! The access-token claims contract shared by the issuer (mcpgate) and every validator.
//!
//! Implements the JWT profile of RFC 9068 §2.2 with the `act` (actor) claim of RFC 8693 §4.1
//! and the `client_id` claim of RFC 8693 §4.3. The issuer serializes exactly this type and
//! validators deserialize exactly this type, so the two cannot drift apart.

use serde::{Deserialize, Serialize};

/// JOSE header `typ` of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The only signature algorithm mcpgate issues and accepts (RFC 7518 §3.4).
pub const ALG_ES256: &str = "ES256";

/// Claims of an mcpgate access token, apart from the time claims (`iat`, `nbf`, `exp`), which
/// [`jwt_compact::Claims`] carries around this struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the authorization server's canonical issuer identifier (RFC 8414 §2).
    pub iss: String,
    /// Subject: the user or agent on whose behalf the token acts.
    pub sub: String,
    /// Audience: exactly one canonical resource identifier (RFC 8707 §2).
    pub aud: Audience,
    /// The client the token was issued to (RFC 8693 §4.3, RFC 9068 §2.2).
    pub client_id: String,
    /// Space-separated granted scopes (RFC 8693 §4.2). Empty scopes are never issued.
    pub scope: String,
    /// Unique token identifier, the key of per-token revocation.
    pub jti: String,
    /// The acting party when the subject is not the client itself (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The authorization this token descends from (mcpgate's refresh-token family): set on
    /// tokens issued to a user through a client (code redemption, refresh) and inherited by
    /// tokens obtained from them by token exchange, so that revoking the authorization (a
    /// `family` revocation entry) cuts every token it led to. Absent on tokens a client
    /// obtained for itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
}

impl AccessClaims {
    /// The granted scopes as an iterator of scope tokens.
    pub fn scopes(&self) -> impl Iterator<Item = &str> + Clone {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    /// Every actor in the delegation chain, the current (outermost) one first.
    pub fn actors(&self) -> ActorChain<'_> {
        ActorChain {
            next: self.act.as_ref(),
        }
    }
}

/// An `aud` claim: RFC 7519 §4.1.3 allows a string or an array of strings. mcpgate always
/// issues a single string; validators accept either form but require the configured audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience (what mcpgate issues).
    One(String),
    /// Several audiences (accepted from the wire, never issued).
    Many(Vec<String>),
}

impl Audience {
    /// True if `resource` is exactly one of the audiences (no normalisation: both sides are
    /// canonical identifiers).
    pub fn contains(&self, resource: &str) -> bool {
        match self {
            Audience::One(a) => a == resource,
            Audience::Many(all) => all.iter().any(|a| a == resource),
        }
    }

    /// The single audience, if there is exactly one.
    pub fn single(&self) -> Option<&str> {
        match self {
            Audience::One(a) => Some(a),
            Audience::Many(all) => match all.as_slice() {
                [one] => Some(one),
                _ => None,
            },
        }
    }
}

/// An actor (RFC 8693 §4.1): the party acting on behalf of the subject. Nested actors record a
/// delegation chain; the outermost is the current actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The actor's identifier: an mcpgate client id (application, agent or registered client).
    pub sub: String,
    /// The previous actor in the chain, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// An actor with no earlier actors.
    pub fn new(sub: impl Into<String>) -> Self {
        Actor {
            sub: sub.into(),
            act: None,
        }
    }

    /// Depth of the chain starting at this actor (1 for a single actor).
    pub fn depth(&self) -> usize {
        let mut n = 1;
        let mut cur = self.act.as_deref();
        while let Some(a) = cur {
            n += 1;
            cur = a.act.as_deref();
        }
        n
    }
}

/// Iterator over a delegation chain, outermost actor first.
pub struct ActorChain<'a> {
    next: Option<&'a Actor>,
}

impl<'a> Iterator for ActorChain<'a> {
    type Item = &'a Actor;
    fn next(&mut self) -> Option<&'a Actor> {
        let cur = self.next?;
        self.next = cur.act.as_deref();
        Some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_claim_nests_per_rfc8693() {
        let claims = AccessClaims {
            iss: "https://as.example".into(),
            sub: "user:alice".into(),
            aud: Audience::One("https://mcp.example/mcp".into()),
            client_id: "agent-1".into(),
            scope: "notes.read notes.write".into(),
            jti: "j1".into(),
            act: Some(Actor {
                sub: "agent-1".into(),
                act: Some(Box::new(Actor::new("app-1"))),
            }),
            fam: Some("rf_1".into()),
        };
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["act"]["sub"], "agent-1");
        assert_eq!(json["act"]["act"]["sub"], "app-1");
        assert_eq!(json["aud"], "https://mcp.example/mcp");
        assert_eq!(json["fam"], "rf_1");
        let chain: Vec<_> = claims.actors().map(|a| a.sub.as_str()).collect();
        assert_eq!(chain, ["agent-1", "app-1"]);
        assert_eq!(
            claims.scopes().collect::<Vec<_>>(),
            ["notes.read", "notes.write"]
        );
    }

    #[test]
    fn act_claim_is_omitted_when_absent() {
        let claims = AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: Audience::One("a".into()),
            client_id: "s".into(),
            scope: "x".into(),
            jti: "j".into(),
            act: None,
            fam: None,
        };
        let json = serde_json::to_value(&claims).unwrap();
        assert!(json.get("act").is_none());
        assert!(json.get("fam").is_none());
    }

    #[test]
    fn audience_accepts_array_form() {
        let aud: Audience = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert!(aud.contains("b"));
        assert_eq!(aud.single(), None);
        let aud: Audience = serde_json::from_str(r#"["a"]"#).unwrap();
        assert_eq!(aud.single(), Some("a"));
    }
}
