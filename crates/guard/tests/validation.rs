//! Token validation requirements (RFC 9068 §4, RFC 7515, RFC 7519): header, signature,
//! issuer, audience, time claims.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use common::*;
use mcpgate_guard::{
    check_claims, Audience, Expectations, ParsedToken, TokenError, Validator, ValidatorConfig,
};
use serde_json::json;

fn header(alg: &str, kid: &Key) -> serde_json::Value {
    json!({"alg": alg, "typ": "at+jwt", "kid": kid.kid})
}

/// A token with the default payload and the given header, ES256-signed (so only the header
/// can make it fail).
fn with_header(key: &Key, header: serde_json::Value) -> String {
    sign_raw(key, &header, &payload(T0, T0 + 600))
}

fn with_payload(key: &Key, payload: serde_json::Value) -> String {
    sign_raw(
        key,
        &json!({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}),
        &payload,
    )
}

mod validation {
    use super::*;

    #[test]
    fn accepts_a_valid_token_and_exposes_its_claims() {
        let k = Key::new(1);
        let mut c = claims();
        c.client_id = "agent-7".into();
        c.act = actor_chain(&["agent-7", "app-1"]);
        let t = mint(&k, c, T0, T0 + 600);
        let v = validator(&[&k]).validate(&t, T0 + 1).unwrap();
        assert_eq!(v.subject(), "user:alice");
        assert_eq!(v.client_id(), "agent-7");
        assert_eq!(v.token_id(), "jti-1");
        assert_eq!(v.issuer(), ISS);
        assert_eq!(v.audience(), AUD);
        assert_eq!(
            v.scopes().collect::<Vec<_>>(),
            ["notes.read", "notes.write"]
        );
        assert_eq!(v.actor().unwrap().sub, "agent-7");
        assert_eq!(
            v.actors().map(|a| a.sub.as_str()).collect::<Vec<_>>(),
            ["agent-7", "app-1"]
        );
        assert_eq!(
            (v.issued_at, v.expires_at, v.expiry()),
            (T0, T0 + 600, T0 + 600)
        );
    }

    #[test]
    fn rejects_alg_none_token() {
        let k = Key::new(1);
        let unsigned = format!(
            "{}.{}.",
            B64.encode(header("none", &k).to_string()),
            B64.encode(payload(T0, T0 + 600).to_string())
        );
        assert_eq!(
            validator(&[&k]).validate(&unsigned, T0),
            Err(TokenError::UnsupportedAlgorithm("none".into()))
        );
    }

    #[test]
    fn rejects_hs256_token() {
        let k = Key::new(1);
        // Refused on the header alone, whatever the signature (no HMAC-with-public-key confusion).
        let t = with_header(&k, header("HS256", &k));
        assert_eq!(
            validator(&[&k]).validate(&t, T0),
            Err(TokenError::UnsupportedAlgorithm("HS256".into()))
        );
    }

    #[test]
    fn rejects_rs256_token() {
        let k = Key::new(1);
        let t = with_header(&k, header("RS256", &k));
        assert_eq!(
            validator(&[&k]).validate(&t, T0),
            Err(TokenError::UnsupportedAlgorithm("RS256".into()))
        );
    }

    #[test]
    fn rejects_algorithm_names_that_only_differ_in_case() {
        let k = Key::new(1);
        let t = with_header(&k, header("es256", &k));
        assert_eq!(
            validator(&[&k]).validate(&t, T0),
            Err(TokenError::UnsupportedAlgorithm("es256".into()))
        );
    }

    #[test]
    fn rejects_token_without_kid() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        let t = with_header(&k, json!({"alg": "ES256", "typ": "at+jwt"}));
        assert_eq!(v.validate(&t, T0), Err(TokenError::MissingKeyId));
        let t = with_header(&k, json!({"alg": "ES256", "typ": "at+jwt", "kid": ""}));
        assert_eq!(v.validate(&t, T0), Err(TokenError::MissingKeyId));
    }

    #[test]
    fn rejects_wrong_typ() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        for typ in [json!("JWT"), json!("id_token+jwt"), json!(null)] {
            let t = with_header(&k, json!({"alg": "ES256", "typ": typ, "kid": k.kid}));
            assert_eq!(v.validate(&t, T0), Err(TokenError::WrongType), "{typ}");
        }
        let t = with_header(&k, json!({"alg": "ES256", "kid": k.kid}));
        assert_eq!(v.validate(&t, T0), Err(TokenError::WrongType));
    }

    #[test]
    fn accepts_full_media_type_typ() {
        let k = Key::new(1);
        let t = with_header(
            &k,
            json!({"alg": "ES256", "typ": "application/at+jwt", "kid": k.kid}),
        );
        assert!(validator(&[&k]).validate(&t, T0).is_ok());
    }

    #[test]
    fn rejects_critical_header_extensions() {
        let k = Key::new(1);
        let t = with_header(
            &k,
            json!({"alg": "ES256", "typ": "at+jwt", "kid": k.kid, "crit": ["exp"], "exp": 1}),
        );
        assert_eq!(
            validator(&[&k]).validate(&t, T0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn rejects_wrong_issuer() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        for iss in ["https://evil.example.com", "https://auth.example.com/"] {
            let mut c = claims();
            c.iss = iss.into();
            let t = mint(&k, c, T0, T0 + 600);
            assert_eq!(v.validate(&t, T0), Err(TokenError::WrongIssuer), "{iss}");
        }
    }

    #[test]
    fn rejects_wrong_audience() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        for aud in [
            "https://other.example.com/mcp",
            "https://mcp.example.com/mcp/",
        ] {
            let mut c = claims();
            c.aud = Audience::One(aud.into());
            let t = mint(&k, c, T0, T0 + 600);
            assert_eq!(v.validate(&t, T0), Err(TokenError::WrongAudience), "{aud}");
        }
    }

    #[test]
    fn accepts_audience_array_only_when_it_is_exactly_our_audience() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        let mut c = claims();
        c.aud = Audience::Many(vec![AUD.into()]);
        assert!(v.validate(&mint(&k, c.clone(), T0, T0 + 600), T0).is_ok());
        c.aud = Audience::Many(vec![AUD.into(), "https://other.example.com".into()]);
        assert_eq!(
            v.validate(&mint(&k, c.clone(), T0, T0 + 600), T0),
            Err(TokenError::WrongAudience)
        );
        c.aud = Audience::Many(vec![]);
        assert_eq!(
            v.validate(&mint(&k, c, T0, T0 + 600), T0),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn expired_token_is_accepted_within_leeway_and_rejected_at_its_edge() {
        let k = Key::new(1);
        let v = validator_with(&[&k], |c| c.cache_capacity = 0);
        let t = mint(&k, claims(), T0 - 600, T0);
        assert!(v.validate(&t, T0 + 29).is_ok());
        assert_eq!(v.validate(&t, T0 + 30), Err(TokenError::Expired));
        let t = with_payload(&k, {
            let mut p = payload(T0, T0);
            p.as_object_mut().unwrap().remove("exp");
            p
        });
        assert_eq!(v.validate(&t, T0), Err(TokenError::Expired));
    }

    #[test]
    fn not_yet_valid_token_is_accepted_within_leeway_and_rejected_beyond() {
        let k = Key::new(1);
        let v = validator_with(&[&k], |c| c.cache_capacity = 0);
        let mut p = payload(T0, T0 + 600);
        p["nbf"] = (T0 + 100).into();
        let t = with_payload(&k, p);
        assert!(v.validate(&t, T0 + 70).is_ok());
        assert_eq!(v.validate(&t, T0 + 69), Err(TokenError::NotYetValid));
    }

    #[test]
    fn iat_in_the_future_is_accepted_within_leeway_and_rejected_beyond() {
        let k = Key::new(1);
        let v = validator_with(&[&k], |c| c.cache_capacity = 0);
        let t = mint(&k, claims(), T0 + 100, T0 + 700);
        assert!(v.validate(&t, T0 + 70).is_ok());
        assert_eq!(v.validate(&t, T0 + 69), Err(TokenError::BadIssuedAt));
        let t = with_payload(&k, {
            let mut p = payload(T0, T0 + 600);
            p.as_object_mut().unwrap().remove("iat");
            p
        });
        assert_eq!(v.validate(&t, T0), Err(TokenError::BadIssuedAt));
    }

    #[test]
    fn leeway_is_configurable() {
        let k = Key::new(1);
        let v = validator_with(&[&k], |c| c.leeway_secs = 0);
        let t = mint(&k, claims(), T0 - 600, T0);
        assert!(v.validate(&t, T0 - 1).is_ok());
        assert_eq!(v.validate(&t, T0), Err(TokenError::Expired));
    }

    #[test]
    fn rejects_tampered_signature() {
        let k = Key::new(1);
        let t = token(&k);
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut bytes = B64.decode(sig).unwrap();
        bytes[10] ^= 1;
        let tampered = format!("{input}.{}", B64.encode(bytes));
        assert_eq!(
            validator(&[&k]).validate(&tampered, T0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_tampered_payload() {
        let k = Key::new(1);
        let t = token(&k);
        let parts: Vec<&str> = t.split('.').collect();
        let mut p = payload(T0, T0 + 600);
        p["sub"] = "user:mallory".into();
        let forged = format!("{}.{}.{}", parts[0], B64.encode(p.to_string()), parts[2]);
        assert_eq!(
            validator(&[&k]).validate(&forged, T0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_signature_by_another_key_under_a_known_kid() {
        let good = Key::new(1);
        let mut evil = Key::new(2);
        evil.kid = good.kid.clone();
        assert_eq!(
            validator(&[&good]).validate(&token(&evil), T0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn unknown_kid_is_reported_as_such() {
        let k = Key::new(1);
        let other = Key::new(2);
        assert_eq!(
            validator(&[&k]).validate(&token(&other), T0),
            Err(TokenError::UnknownKeyId(other.kid.clone()))
        );
    }

    #[test]
    fn rejects_malformed_and_oversized_tokens() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        for junk in ["", "abc", "a.b", "a.b.c.d", "....", "!!.!!.!!"] {
            assert!(
                matches!(
                    v.validate(junk, T0),
                    Err(TokenError::Malformed | TokenError::BadSignature)
                ),
                "{junk}"
            );
        }
        let mut c = claims();
        c.scope = "x".repeat(9000);
        assert_eq!(
            v.validate(&mint(&k, c, T0, T0 + 600), T0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn rejects_claims_of_the_wrong_shape() {
        let k = Key::new(1);
        let v = validator(&[&k]);
        let mut p = payload(T0, T0 + 600);
        p["scope"] = json!(["notes.read"]);
        assert_eq!(
            v.validate(&with_payload(&k, p), T0),
            Err(TokenError::MalformedClaims)
        );
        let mut p = payload(T0, T0 + 600);
        p.as_object_mut().unwrap().remove("client_id");
        assert_eq!(
            v.validate(&with_payload(&k, p), T0),
            Err(TokenError::MalformedClaims)
        );
    }

    #[test]
    fn without_keys_or_fresh_revocations_the_validator_is_unavailable() {
        let k = Key::new(1);
        let mut c = ValidatorConfig::new(ISS, AUD);
        c.revocation_max_age_secs = None;
        let no_keys = Validator::new(c);
        let err = no_keys.validate(&token(&k), T0).unwrap_err();
        assert_eq!(err, TokenError::Unavailable);
        assert!(err.is_temporary());

        let strict = Validator::new(ValidatorConfig::new(ISS, AUD));
        strict.apply_jwks_json(&jwks(&[&k])).unwrap();
        assert_eq!(
            strict.validate(&token(&k), T0),
            Err(TokenError::Unavailable)
        );
        strict.mark_revocations_fresh(T0);
        assert!(strict.validate(&token(&k), T0 + 300).is_ok());
        assert_eq!(
            strict.validate(&token(&k), T0 + 301),
            Err(TokenError::Unavailable)
        );
    }

    #[test]
    fn step_by_step_api_agrees_with_the_validator() {
        let k = Key::new(1);
        let t = token(&k);
        let parsed = ParsedToken::parse(&t).unwrap();
        assert_eq!(parsed.kid(), k.kid);
        let claims = parsed.verify_p256(k.sk.verifying_key()).unwrap();
        let expect = Expectations {
            issuer: ISS.into(),
            audience: AUD.into(),
            leeway_secs: 30,
        };
        let stepwise = check_claims(claims, &expect, T0).unwrap();
        assert_eq!(stepwise, validator(&[&k]).validate(&t, T0).unwrap());
        assert_eq!(
            parsed.claims_if_verified(false).unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[test]
    fn errors_never_contain_the_token() {
        let k = Key::new(1);
        let t = token(&k);
        let (input, _) = t.rsplit_once('.').unwrap();
        let broken = format!("{input}.AAAA");
        let err = validator(&[&k]).validate(&broken, T0).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(input));
    }
}
