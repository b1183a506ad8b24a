//! The pure part of talking to an OpenID Connect provider: its discovery document (OpenID
//! Connect Discovery 1.0 §4), its JWKS, JWS signature checks against that JWKS (RS256 and
//! ES256 only: never `none`, never a MAC with a public key), and the claims checks of an ID
//! token (OpenID Connect Core §3.1.3.7). Identity assertions (ID-JAG) reuse the signature check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::crypto::{Crypto, RsaPublicKey};
use crate::secret::ct_eq;
use crate::uri::AbsoluteUri;

/// Seconds of clock difference tolerated on `exp`, `iat` and `nbf`.
pub const LEEWAY_SECS: i64 = 60;

/// What discovery says about a provider (the members mcpgate uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Discovery {
    /// Must equal the configured issuer exactly.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where the code is redeemed.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
    /// Client authentication methods the token endpoint accepts (empty: basic, per the spec).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 9207: the provider puts `iss` in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// PKCE methods, if advertised.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// Why a provider's document or token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refused<T>(msg: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(msg.into()))
}

/// An endpoint a provider names: https, or http on a loopback host (local development).
pub fn check_endpoint(url: &str) -> Result<(), Refused> {
    let u = AbsoluteUri::parse(url).map_err(|e| Refused(format!("invalid URL: {e}")))?;
    if u.fragment.is_some() {
        return refused("endpoint URL has a fragment");
    }
    match u.scheme.as_str() {
        "https" => Ok(()),
        "http" if u.is_loopback() => Ok(()),
        _ => refused("endpoint must be https"),
    }
}

/// Where discovery lives for an issuer (OpenID Connect Discovery §4.1).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Parses a discovery document and checks it belongs to `issuer` and names usable endpoints.
pub fn parse_discovery(issuer: &str, body: &[u8]) -> Result<Discovery, Refused> {
    let d: Discovery = serde_json::from_slice(body)
        .map_err(|_| Refused("the discovery document is not valid".into()))?;
    if d.issuer != issuer {
        return refused("the discovery document names another issuer");
    }
    for url in [&d.authorization_endpoint, &d.token_endpoint, &d.jwks_uri] {
        check_endpoint(url)?;
    }
    if d.code_challenge_methods_supported
        .as_ref()
        .is_some_and(|m| !m.iter().any(|m| m == "S256"))
    {
        return refused("the provider does not support PKCE S256");
    }
    Ok(d)
}

/// One key of a JWKS (the members used; others are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwk {
    /// `RSA` or `EC` (others are skipped).
    pub kty: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Intended algorithm.
    #[serde(default)]
    pub alg: Option<String>,
    /// Intended use (`sig`).
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// RSA modulus.
    #[serde(default)]
    pub n: Option<String>,
    /// RSA exponent.
    #[serde(default)]
    pub e: Option<String>,
    /// EC curve.
    #[serde(default)]
    pub crv: Option<String>,
    /// EC x.
    #[serde(default)]
    pub x: Option<String>,
    /// EC y.
    #[serde(default)]
    pub y: Option<String>,
}

/// A provider's keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// Parses a JWKS.
pub fn parse_jwks(body: &[u8]) -> Result<Jwks, Refused> {
    serde_json::from_slice(body).map_err(|_| Refused("the provider's JWKS is not valid".into()))
}

/// A compact JWS taken apart (nothing verified yet).
#[derive(Debug)]
pub struct Jws<'a> {
    /// The protected header.
    pub header: Header,
    /// `header.payload`, what the signature covers.
    pub signing_input: &'a str,
    /// The payload, decoded.
    pub payload: Vec<u8>,
    /// The signature, decoded.
    pub signature: Vec<u8>,
}

/// The header members that matter.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    /// Algorithm.
    pub alg: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Media type.
    #[serde(default)]
    pub typ: Option<String>,
    /// Critical extensions (none are understood, so any makes the token unusable).
    #[serde(default)]
    pub crit: Option<Value>,
}

/// Most bytes of a compact JWS accepted from a provider.
pub const MAX_JWS_BYTES: usize = 16 * 1024;

/// Splits a compact JWS.
pub fn split(compact: &str) -> Result<Jws<'_>, Refused> {
    if compact.len() > MAX_JWS_BYTES {
        return refused("the token is too large");
    }
    let mut parts = compact.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return refused("the token is not a compact JWS");
    };
    let bad = || Refused("the token is not a compact JWS".into());
    let header: Header =
        serde_json::from_slice(&B64.decode(h).map_err(|_| bad())?).map_err(|_| bad())?;
    if header.crit.is_some() {
        return refused("the token has critical extensions");
    }
    let signing_input = compact.get(..h.len() + 1 + p.len()).ok_or_else(bad)?;
    Ok(Jws {
        header,
        signing_input,
        payload: B64.decode(p).map_err(|_| bad())?,
        signature: B64.decode(s).map_err(|_| bad())?,
    })
}

/// The outcome of checking a signature against a JWKS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// A key of the set verifies it.
    Valid,
    /// No key of the set has the token's key id: the set may have rotated (fetch it again).
    UnknownKey,
    /// A matching key exists and the signature is wrong, or the algorithm is not accepted.
    Invalid,
}

fn b64(v: Option<&String>) -> Option<Vec<u8>> {
    B64.decode(v?).ok()
}

/// Checks `jws`'s signature with the keys of `jwks` whose id, type, algorithm and use fit.
pub async fn verify<C: Crypto + ?Sized>(crypto: &C, jws: &Jws<'_>, jwks: &Jwks) -> Signature {
    let kty = match jws.header.alg.as_str() {
        "RS256" => "RSA",
        "ES256" => "EC",
        _ => return Signature::Invalid,
    };
    let candidates: Vec<&Jwk> = jwks
        .keys
        .iter()
        .filter(|k| match (&jws.header.kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .filter(|k| k.kty == kty)
        .filter(|k| k.alg.as_ref().is_none_or(|a| *a == jws.header.alg))
        .filter(|k| k.use_.as_ref().is_none_or(|u| u == "sig"))
        .take(4)
        .collect();
    if candidates.is_empty() {
        return if jws.header.kid.is_some() {
            Signature::UnknownKey
        } else {
            Signature::Invalid
        };
    }
    let message = jws.signing_input.as_bytes();
    for k in candidates {
        let ok = match kty {
            "RSA" => match (b64(k.n.as_ref()), b64(k.e.as_ref())) {
                (Some(n), Some(e)) => {
                    crypto
                        .verify_rs256(&RsaPublicKey { n, e }, message, &jws.signature)
                        .await
                }
                _ => false,
            },
            _ => match (&k.crv, &k.x, &k.y) {
                (Some(crv), Some(x), Some(y)) if crv == "P-256" => {
                    let jwk = mcpgate_guard::EcPublicJwk {
                        kty: "EC".into(),
                        crv: "P-256".into(),
                        x: x.clone(),
                        y: y.clone(),
                        kid: None,
                        alg: None,
                        use_: None,
                    };
                    crypto.verify_es256(&jwk, message, &jws.signature).await
                }
                _ => false,
            },
        };
        if ok {
            return Signature::Valid;
        }
    }
    Signature::Invalid
}

/// What an ID token must say.
pub struct Expect<'a> {
    /// The provider's issuer.
    pub issuer: &'a str,
    /// mcpgate's client id there.
    pub client_id: &'a str,
    /// The nonce sent with the authorization request.
    pub nonce: &'a str,
    /// The claim listing the user's upstream groups.
    pub groups_claim: &'a str,
    /// Now (unix seconds).
    pub now: i64,
}

/// What mcpgate takes from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The provider's subject identifier.
    pub subject: String,
    /// Email, if asserted.
    pub email: Option<String>,
    /// Whether the provider verified that email.
    pub email_verified: bool,
    /// `preferred_username`, if asserted.
    pub preferred_username: Option<String>,
    /// `name`, if asserted.
    pub name: Option<String>,
    /// Values of the groups claim.
    pub groups: Vec<String>,
}

fn str_claim(c: &Value, name: &str) -> Option<String> {
    c.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .map(str::to_owned)
}

fn num_claim(c: &Value, name: &str) -> Option<i64> {
    c.get(name).and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    })
}

/// The values of a groups claim: a list of strings (others skipped) or one string; at most 200.
pub fn groups(claims: &Value, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .take(200)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Checks time claims: `exp` required and in the future, `iat` (if `require_iat`) and `nbf` not
/// in the future, all within [`LEEWAY_SECS`].
pub fn check_times(c: &Value, now: i64, require_iat: bool) -> Result<i64, Refused> {
    let exp = num_claim(c, "exp").ok_or_else(|| Refused("the token has no exp".into()))?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return refused("the token has expired");
    }
    match num_claim(c, "iat") {
        Some(iat) if iat > now.saturating_add(LEEWAY_SECS) => {
            return refused("the token was issued in the future")
        }
        None if require_iat => return refused("the token has no iat"),
        _ => {}
    }
    if num_claim(c, "nbf").is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS)) {
        return refused("the token is not valid yet");
    }
    Ok(exp)
}

/// Whether the `aud` claim (a string or a list) names `who`.
pub fn audience_has(c: &Value, who: &str) -> bool {
    match c.get("aud") {
        Some(Value::String(s)) => s == who,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(who)),
        _ => false,
    }
}

/// Checks a signature-verified ID token's claims (OpenID Connect Core §3.1.3.7 items 2–4, 9–11).
pub fn check_id_token(claims: &[u8], expect: &Expect<'_>) -> Result<Person, Refused> {
    let c: Value =
        serde_json::from_slice(claims).map_err(|_| Refused("the ID token is not JSON".into()))?;
    if !c.is_object() {
        return refused("the ID token is not a JSON object");
    }
    if c.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        return refused("the ID token was issued by another issuer");
    }
    if !audience_has(&c, expect.client_id) {
        return refused("the ID token is for another client");
    }
    let several = c
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match c.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != expect.client_id => {
            return refused("the ID token was issued to another party")
        }
        None if several => return refused("the ID token has several audiences and no azp"),
        _ => {}
    }
    check_times(&c, expect.now, true)?;
    let nonce = c.get("nonce").and_then(Value::as_str).unwrap_or_default();
    if !ct_eq(nonce.as_bytes(), expect.nonce.as_bytes()) {
        return refused("the ID token's nonce does not match this sign-in");
    }
    let subject = str_claim(&c, "sub").ok_or_else(|| Refused("the ID token has no sub".into()))?;
    Ok(Person {
        subject,
        email: str_claim(&c, "email").map(|e| e.to_ascii_lowercase()),
        email_verified: c.get("email_verified").and_then(Value::as_bool) == Some(true),
        preferred_username: str_claim(&c, "preferred_username"),
        name: str_claim(&c, "name"),
        groups: groups(&c, expect.groups_claim),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect(now: i64) -> Expect<'static> {
        Expect {
            issuer: "https://idp.example",
            client_id: "mcpgate",
            nonce: "n-1",
            groups_claim: "groups",
            now,
        }
    }

    fn claims(extra: Value) -> Vec<u8> {
        let mut c = json!({
            "iss": "https://idp.example", "aud": "mcpgate", "sub": "alice-1",
            "exp": 2000, "iat": 1000, "nonce": "n-1", "email": "Alice@Example.com",
            "email_verified": true, "groups": ["eng", 7, "ops"]
        });
        if let (Some(c), Value::Object(e)) = (c.as_object_mut(), extra) {
            for (k, v) in e {
                if v.is_null() {
                    c.remove(&k);
                } else {
                    c.insert(k, v);
                }
            }
        }
        serde_json::to_vec(&c).unwrap()
    }

    #[test]
    fn an_id_token_for_this_client_and_sign_in_is_accepted() {
        let p = check_id_token(&claims(json!({})), &expect(1500)).unwrap();
        assert_eq!(p.subject, "alice-1");
        assert_eq!(p.email.as_deref(), Some("alice@example.com"));
        assert!(p.email_verified);
        assert_eq!(p.groups, vec!["eng".to_string(), "ops".to_string()]);
    }

    #[test]
    fn id_tokens_from_another_issuer_client_party_time_or_sign_in_are_refused() {
        let e = expect(1500);
        for (extra, why) in [
            (json!({"iss": "https://evil.example"}), "another issuer"),
            (json!({"aud": "someone-else"}), "another client"),
            (json!({"aud": ["mcpgate", "x"]}), "no azp"),
            (
                json!({"aud": ["mcpgate", "x"], "azp": "x"}),
                "another party",
            ),
            (json!({"azp": "x"}), "another party"),
            (json!({"nonce": "n-2"}), "nonce"),
            (json!({"nonce": null}), "nonce"),
            (json!({"exp": 1400}), "expired"),
            (json!({"exp": null}), "no exp"),
            (json!({"iat": null}), "no iat"),
            (json!({"iat": 1700}), "future"),
            (json!({"sub": ""}), "no sub"),
        ] {
            let err = check_id_token(&claims(extra.clone()), &e).unwrap_err();
            assert!(err.0.contains(why), "{extra}: {err}");
        }
        assert!(check_id_token(
            &claims(json!({"aud": ["mcpgate", "x"], "azp": "mcpgate"})),
            &e
        )
        .is_ok());
    }

    #[test]
    fn discovery_must_name_the_configured_issuer_and_safe_endpoints() {
        let doc = |iss: &str, ep: &str| {
            serde_json::to_vec(&json!({
                "issuer": iss, "authorization_endpoint": ep,
                "token_endpoint": "https://idp.example/token", "jwks_uri": "https://idp.example/jwks"
            }))
            .unwrap()
        };
        assert!(parse_discovery(
            "https://idp.example",
            &doc("https://idp.example", "https://idp.example/auth")
        )
        .is_ok());
        assert!(parse_discovery(
            "https://idp.example",
            &doc("https://evil.example", "https://idp.example/auth")
        )
        .is_err());
        assert!(parse_discovery(
            "https://idp.example",
            &doc("https://idp.example", "http://idp.example/auth")
        )
        .is_err());
        assert!(parse_discovery(
            "http://127.0.0.1:9000",
            &doc("http://127.0.0.1:9000", "http://127.0.0.1:9000/auth")
        )
        .is_ok());
    }

    #[test]
    fn signatures_need_a_fitting_key_and_never_accept_none_or_hmac() {
        use crate::crypto::{PrivateKey, SoftwareCrypto};
        let key = PrivateKey::from_scalar([9u8; 32]).unwrap();
        let jwks = Jwks {
            keys: vec![Jwk {
                kty: "EC".into(),
                kid: Some("k1".into()),
                alg: Some("ES256".into()),
                use_: Some("sig".into()),
                n: None,
                e: None,
                crv: Some("P-256".into()),
                x: Some(key.public.x.clone()),
                y: Some(key.public.y.clone()),
            }],
        };
        let sign = |header: Value| {
            let h = B64.encode(serde_json::to_vec(&header).unwrap());
            let input = format!("{h}.{}", B64.encode(b"{}"));
            let sig = crate::testing::block_on(SoftwareCrypto.sign_es256(&key, input.as_bytes()))
                .unwrap();
            format!("{input}.{}", B64.encode(sig))
        };
        let run =
            |t: &str| crate::testing::block_on(verify(&SoftwareCrypto, &split(t).unwrap(), &jwks));
        assert_eq!(
            run(&sign(json!({"alg": "ES256", "kid": "k1"}))),
            Signature::Valid
        );
        assert_eq!(run(&sign(json!({"alg": "ES256"}))), Signature::Valid);
        assert_eq!(
            run(&sign(json!({"alg": "ES256", "kid": "k2"}))),
            Signature::UnknownKey
        );
        assert_eq!(
            run(&sign(json!({"alg": "RS256", "kid": "k1"}))),
            Signature::UnknownKey
        );
        assert_eq!(
            run(&sign(json!({"alg": "HS256", "kid": "k1"}))),
            Signature::Invalid
        );
        assert_eq!(
            run(&sign(json!({"alg": "none", "kid": "k1"}))),
            Signature::Invalid
        );
        let t = sign(json!({"alg": "ES256", "kid": "k1"}));
        let tampered = format!(
            "{}eyJhIjoxfQ.{}",
            &t[..t.find('.').unwrap() + 1],
            t.rsplit('.').next().unwrap()
        );
        assert_eq!(run(&tampered), Signature::Invalid);
        assert!(split(&sign(json!({"alg": "ES256", "crit": ["x"]}))).is_err());
    }

    /// An RS256 signature from a 2048-bit key (made once with `openssl dgst -sha256 -sign`)
    /// verifies; another message or a flipped bit does not; a 1024-bit key is refused.
    #[test]
    fn rs256_signatures_verify_natively_and_short_keys_are_refused() {
        let n = "0Dndkre9rVkaaCpFKTmm4yIjA7Nc9eZy_Mu6SULF969hkopbLuYnIxH9gukZXRI9KXHHY2IaN6w9UMqLolI1v65IYHsnTd9TgkIuWrXD4URPq6ZtuvS5YFhBARk0B7jE8PvHYoxyOvuWaAs_g5SJizDB8tXNtTeaABaDz-MWCCDc8G90-ZoLFUDog3ebH9i-RnY8_dh8TB1Jpm1JB0Lahxpffj0nyPzkRW_jHYVVFJXwV7Wta-EaEWCALhvNFQh4RrhzfTjhHtexmBwxzQmaSk_HjCB85a1ebTDh0LE9wFNEh1C1yG80pDcXqENVeRkQqtyJWkfhkHcWnqm2Vv87kQ";
        let sig = "RPfpj1LTj70nGoe5nSL1gqHJ7Sz_4lYMR1kqbDzgFNKpKFabTbsFLIi6aPm7bUuffsablER3bPv95w6gLnwynm3KFcM_df_1z2uN4prm9rKdjBxUpkji3fp4GteNw7meBFMbfAD8L_JL6nSN_uJA29cKm0N5qhgQ-3fwC3S2CMrineUsvjqif0mTGisfB5UkFK6Lo3D1qTMufA38ap5sJvSEDy0Tw9SmcT4F-YrhK3eXQh-62dMy4RG68XoWYVIwBrG8sz4CDkCcSSuzZsH9CKQFGITysimU_xkouTbEW7d_CA_IUHXqFccEHtcKhckfcysPa1T7Zz_jS5RQbJ-0Mw";
        let key = RsaPublicKey {
            n: B64.decode(n).unwrap(),
            e: vec![1, 0, 1],
        };
        let sig = B64.decode(sig).unwrap();
        assert_eq!(key.bits(), 2048);
        let c = crate::crypto::SoftwareCrypto;
        let ok = |m: &[u8], s: &[u8]| crate::testing::block_on(c.verify_rs256(&key, m, s));
        assert!(ok(b"mcpgate rs256 vector", &sig));
        assert!(!ok(b"mcpgate rs256 vectos", &sig));
        let mut flipped = sig.clone();
        flipped[17] ^= 1;
        assert!(!ok(b"mcpgate rs256 vector", &flipped));
        let short = RsaPublicKey {
            n: key.n[..128].to_vec(),
            e: vec![1, 0, 1],
        };
        assert_eq!(short.bits(), 1024);
        assert!(key.acceptable() && !short.acceptable());
        for e in [vec![], vec![0], vec![1], vec![1, 0, 0], vec![3; 5]] {
            let odd = RsaPublicKey {
                n: key.n.clone(),
                e,
            };
            assert!(!odd.acceptable(), "exponent {:?}", odd.e);
        }
        let huge = RsaPublicKey {
            n: vec![0xff; 1025],
            e: vec![1, 0, 1],
        };
        assert!(!huge.acceptable(), "over 8192 bits");
        assert!(!crate::testing::block_on(c.verify_rs256(
            &short,
            b"m",
            &sig[..128]
        )));
    }
}
