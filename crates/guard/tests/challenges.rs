//! RFC 6750 challenges, RFC 9728 protected resource metadata, and scope policies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use mcpgate_guard::metadata::ResourceUrlError;
use mcpgate_guard::{
    protected_resource_metadata_url, Challenges, ProtectedResourceMetadata, ScopeError,
    ScopePolicy, TokenError,
};

const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

mod challenges {
    use super::*;

    #[test]
    fn missing_token_challenge_is_exact() {
        let c = Challenges::new(PRM).missing_token(&["notes.read", "notes.write"]);
        assert_eq!(c.status(), 401);
        assert_eq!(
            c.www_authenticate(),
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="notes.read notes.write""#
        );
    }

    #[test]
    fn missing_token_challenge_omits_empty_scope() {
        let c = Challenges::new(PRM).missing_token::<&str>(&[]);
        assert_eq!(
            c.www_authenticate(),
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
        );
    }

    #[test]
    fn rejected_token_challenge_carries_invalid_token_error() {
        let c = Challenges::new(PRM).invalid_token(&["notes.read"]);
        assert_eq!(c.status(), 401);
        assert_eq!(
            c.www_authenticate(),
            r#"Bearer error="invalid_token", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="notes.read""#
        );
    }

    #[test]
    fn insufficient_scope_challenge_lists_all_required_scopes_in_one_challenge() {
        let c = Challenges::new(PRM).insufficient_scope(&["notes.write", "calendar.read"]);
        assert_eq!(c.status(), 403);
        assert_eq!(
            c.www_authenticate(),
            r#"Bearer error="insufficient_scope", scope="notes.write calendar.read", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
        );
    }

    #[test]
    fn parameter_values_are_quote_escaped() {
        let c = Challenges::new("https://x.example/a\"b\\c\r\nInjected: 1\u{e9}")
            .missing_token(&["we\"ird"]);
        assert_eq!(
            c.www_authenticate(),
            r#"Bearer resource_metadata="https://x.example/a\"b\\cInjected: 1", scope="we\"ird""#
        );
    }

    #[test]
    fn token_errors_map_to_invalid_token_except_unavailability() {
        let ch = Challenges::new(PRM);
        let c = ch
            .for_token_error(&TokenError::Expired, &["notes.read"])
            .unwrap();
        assert_eq!(c, ch.invalid_token(&["notes.read"]));
        assert_eq!(ch.for_token_error(&TokenError::Unavailable, &["x"]), None);
    }

    #[test]
    fn scope_errors_map_to_insufficient_scope() {
        let ch = Challenges::new(PRM);
        let e = ScopeError::Insufficient {
            required: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            ch.for_scope_error(&e).unwrap().www_authenticate(),
            format!(r#"Bearer error="insufficient_scope", scope="a b", resource_metadata="{PRM}""#)
        );
        assert_eq!(ch.for_scope_error(&ScopeError::UnknownTool), None);
    }

    #[test]
    fn challenges_for_a_resource_point_at_its_well_known_metadata() {
        let ch = Challenges::for_resource("https://mcp.example.com/mcp").unwrap();
        assert_eq!(ch.resource_metadata_url(), PRM);
    }

    #[test]
    fn bearer_token_is_extracted_from_the_authorization_header() {
        assert_eq!(mcpgate_guard::bearer_token("Bearer a.b.c"), Some("a.b.c"));
        assert_eq!(mcpgate_guard::bearer_token("DPoP a.b.c"), None);
    }
}

mod protected_resource_metadata {
    use super::*;

    #[test]
    fn well_known_url_is_inserted_before_the_path() {
        let cases = [
            ("https://mcp.example.com/mcp", PRM),
            (
                "https://mcp.example.com/tenant/a/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource/tenant/a/mcp",
            ),
            (
                "https://mcp.example.com:8443/mcp/",
                "https://mcp.example.com:8443/.well-known/oauth-protected-resource/mcp/",
            ),
            (
                "https://mcp.example.com",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://mcp.example.com/",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://mcp.example.com/?tenant=a",
                "https://mcp.example.com/.well-known/oauth-protected-resource?tenant=a",
            ),
            (
                "https://mcp.example.com/mcp?tenant=a",
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp?tenant=a",
            ),
            (
                "http://localhost:8787/mcp",
                "http://localhost:8787/.well-known/oauth-protected-resource/mcp",
            ),
        ];
        for (resource, expected) in cases {
            assert_eq!(
                protected_resource_metadata_url(resource).unwrap(),
                expected,
                "{resource}"
            );
        }
    }

    #[test]
    fn unusable_resource_identifiers_are_refused() {
        assert_eq!(
            protected_resource_metadata_url("https://mcp.example.com/mcp#x"),
            Err(ResourceUrlError::HasFragment)
        );
        assert_eq!(
            protected_resource_metadata_url("ftp://mcp.example.com/mcp"),
            Err(ResourceUrlError::NotHttp)
        );
        assert_eq!(
            protected_resource_metadata_url("mcp.example.com/mcp"),
            Err(ResourceUrlError::NotHttp)
        );
        assert_eq!(
            protected_resource_metadata_url("https:///mcp"),
            Err(ResourceUrlError::MissingHost)
        );
    }

    #[test]
    fn document_has_the_rfc9728_members() {
        let doc = ProtectedResourceMetadata::new(AUD, ISS)
            .with_scopes(["notes.read", "notes.write"])
            .with_resource_name("Notes")
            .with_resource_documentation("https://mcp.example.com/docs");
        assert_eq!(
            doc.to_json(),
            r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"],"scopes_supported":["notes.read","notes.write"],"bearer_methods_supported":["header"],"resource_name":"Notes","resource_documentation":"https://mcp.example.com/docs"}"#
        );
        assert_eq!(doc.well_known_url().unwrap(), PRM);
    }

    #[test]
    fn optional_members_are_omitted() {
        let doc = ProtectedResourceMetadata::new(AUD, ISS);
        assert_eq!(
            doc.to_json(),
            r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"],"bearer_methods_supported":["header"]}"#
        );
    }
}

mod scopes {
    use super::*;

    fn policy() -> ScopePolicy {
        ScopePolicy::builder()
            .implies("notes.admin", "notes.write")
            .implies("notes.write", "notes.read")
            .tool("read_note", ["notes.read"])
            .tool("write_note", ["notes.write"])
            .tool("purge_notes", ["notes.admin"])
            .tool("share_note", ["notes.read", "calendar.read"])
            .tool("ping", Vec::<String>::new())
            .build()
    }

    #[test]
    fn higher_scope_grants_lower_scopes_transitively() {
        let p = policy();
        assert!(p.authorize_scopes("read_note", ["notes.admin"]).is_ok());
        assert!(p.authorize_scopes("write_note", ["notes.admin"]).is_ok());
        assert!(p.authorize_scopes("read_note", ["notes.write"]).is_ok());
        assert!(p.implies("notes.admin", "notes.read"));
        assert!(!p.implies("notes.read", "notes.write"));
    }

    #[test]
    fn lower_scope_does_not_grant_higher_scopes() {
        let p = policy();
        assert_eq!(
            p.authorize_scopes("write_note", ["notes.read"]),
            Err(ScopeError::Insufficient {
                required: vec!["notes.write".into()]
            })
        );
        assert!(p.authorize_scopes("purge_notes", ["notes.write"]).is_err());
    }

    #[test]
    fn every_required_scope_is_needed_and_all_are_reported() {
        let p = policy();
        assert_eq!(
            p.authorize_scopes("share_note", ["notes.admin"]),
            Err(ScopeError::Insufficient {
                required: vec!["notes.read".into(), "calendar.read".into()]
            })
        );
        assert!(p
            .authorize_scopes("share_note", ["calendar.read", "notes.write"])
            .is_ok());
    }

    #[test]
    fn unknown_tools_are_refused_unless_a_default_is_set() {
        assert_eq!(
            policy().authorize_scopes("format_disk", ["notes.admin"]),
            Err(ScopeError::UnknownTool)
        );
        let p = ScopePolicy::builder()
            .implies("notes.admin", "notes.read")
            .default_scopes(["notes.read"])
            .build();
        assert!(p.authorize_scopes("anything", ["notes.admin"]).is_ok());
        assert_eq!(p.required("anything"), Some(&["notes.read".to_owned()][..]));
    }

    #[test]
    fn a_tool_without_requirements_needs_only_a_valid_token() {
        assert!(policy()
            .authorize_scopes("ping", std::iter::empty())
            .is_ok());
    }

    #[test]
    fn verified_tokens_are_authorized_by_their_scope_claim() {
        let k = Key::new(1);
        let mut c = claims();
        c.scope = "notes.admin".into();
        let v = validator(&[&k])
            .validate(&mint(&k, c, T0, T0 + 600), T0)
            .unwrap();
        assert!(policy().authorize("read_note", &v).is_ok());
        assert!(!v.has_scope("notes.read"));
    }

    #[test]
    fn scopes_supported_lists_every_scope_once_sorted() {
        assert_eq!(
            policy().scopes_supported(),
            ["calendar.read", "notes.admin", "notes.read", "notes.write"]
        );
    }
}
