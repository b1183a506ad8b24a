//! Throughput of ES256 verification and of full token validation, printed (never asserted).
//!
//! ```text
//! cargo run --release -p mcpgate-guard --example bench --features ring
//! ```
//!
//! Prints raw p256 and ring verifications per second, full `Validator::validate` per second
//! with each backend (cache disabled, so every call parses, verifies, checks claims and
//! revocations) with its overhead over the raw verify of the same backend, and the cost of a
//! verified-token cache hit. Operations are measured in interleaved rounds and the best round
//! of each is reported, so background load skews them alike.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jwt_compact::{alg::Es256, AlgorithmExt as _, Claims, Header};
use mcpgate_guard::revocation::{RevocationEntry, RevocationFeed, RevocationKind};
use mcpgate_guard::{
    check_claims, AccessClaims, Actor, Audience, Backend, EcPublicJwk, JwkSet, ParsedToken,
    Validator, ValidatorConfig,
};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://mcp.example.com/mcp";
const NOW: i64 = 1_700_000_000;

/// A benchmarked operation: a name and a closure that must return true.
type Op<'a> = (&'a str, Box<dyn FnMut() -> bool + 'a>);

/// Measures every op in interleaved rounds (so background load hits them alike) and returns
/// the best ns per call of each.
fn measure(ops: &mut [Op<'_>], rounds: u32, per_round: Duration) -> Vec<f64> {
    // Warm up each op and size its batch to ~5 ms.
    let batches: Vec<u64> = ops
        .iter_mut()
        .map(|(name, f)| {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < Duration::from_millis(50) {
                assert!(black_box(f()), "{name} failed");
                n += 1;
            }
            (n / 10).max(1)
        })
        .collect();
    let mut best = vec![f64::INFINITY; ops.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in ops.iter_mut().enumerate() {
            let start = Instant::now();
            let mut done = 0u64;
            while start.elapsed() < per_round {
                for _ in 0..batches[i] {
                    black_box(f());
                }
                done += batches[i];
            }
            best[i] = best[i].min(start.elapsed().as_nanos() as f64 / done as f64);
        }
    }
    best
}

fn per_sec(ns: f64) -> f64 {
    1e9 / ns
}

fn main() {
    let sk = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
    let vk = *sk.verifying_key();
    let jwk = EcPublicJwk::from_key(&vk);
    let kid = jwk.kid.clone().unwrap();

    // A realistic token: delegated through an agent, a few scopes.
    let mut claims = Claims::new(AccessClaims {
        iss: ISS.into(),
        sub: "user:8f0c5e2a-6f0e-4a47-9d51-3e1f9f7b2c10".into(),
        aud: Audience::One(AUD.into()),
        client_id: "agent-7c1d".into(),
        scope: "notes.read notes.write calendar.read".into(),
        jti: "0b6f1f1e-3c8a-4f43-8a7e-5d2c1b0a9f88".into(),
        act: Some(Actor {
            sub: "agent-7c1d".into(),
            act: Some(Box::new(Actor::new("app-42"))),
        }),
        fam: Some("rf_demo".into()),
    });
    claims.issued_at = chrono::DateTime::from_timestamp(NOW, 0);
    claims.expiration = chrono::DateTime::from_timestamp(NOW + 3600, 0);
    let header = Header::empty()
        .with_key_id(kid.clone())
        .with_token_type("at+jwt");
    let token = Es256.token(&header, &claims, &sk).unwrap();
    let (input, sig_b64) = token.rsplit_once('.').unwrap();
    let input = input.as_bytes();
    let sig_bytes = B64.decode(sig_b64).unwrap();
    let sig = Signature::from_slice(&sig_bytes).unwrap();

    // A revocation state with 1000 unrelated entries, so every validation consults it.
    let feed = RevocationFeed {
        iss: ISS.into(),
        iat: NOW,
        seq: 1,
        full: true,
        since: 0,
        more: false,
        entries: (0..1000)
            .map(|i| RevocationEntry {
                kind: [
                    RevocationKind::Client,
                    RevocationKind::Sub,
                    RevocationKind::Jti,
                ][i % 3],
                id: format!("revoked-{i}"),
                revoked_at: NOW,
                expires_at: NOW + 3600,
            })
            .collect(),
    };
    let feed_input = format!(
        "{}.{}",
        B64.encode(
            serde_json::json!({"alg": "ES256", "typ": "revocations+jwt", "kid": kid}).to_string()
        ),
        B64.encode(serde_json::to_vec(&feed).unwrap())
    );
    let feed_sig: Signature = sk.sign(feed_input.as_bytes());
    let feed_jws = format!("{feed_input}.{}", B64.encode(feed_sig.to_bytes()));
    let jwks = JwkSet {
        keys: vec![serde_json::to_value(&jwk).unwrap()],
    };
    let validator = |backend: Backend, cache_capacity: usize| {
        let mut c = ValidatorConfig::new(ISS, AUD);
        c.backend = backend;
        c.cache_capacity = cache_capacity;
        let v = Validator::new(c);
        v.apply_jwks(&jwks).unwrap();
        v.apply_revocation_feed(&feed_jws, NOW).unwrap();
        assert!(v.validate(&token, NOW).is_ok());
        v
    };

    println!("mcpgate-guard bench: ES256 token of {} bytes", token.len());

    let point = vk.to_encoded_point(false);
    let v_p256 = validator(Backend::P256, 0);
    let v_ring = validator(Backend::Ring, 0);
    let v_cached = validator(Backend::Ring, 4096);
    let mut ops: Vec<Op<'_>> = vec![
        ("raw p256", Box::new(|| vk.verify(input, &sig).is_ok())),
        (
            "raw ring",
            Box::new(|| {
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    point.as_bytes(),
                )
                .verify(input, &sig_bytes)
                .is_ok()
            }),
        ),
        (
            "validate p256",
            Box::new(|| v_p256.validate(&token, NOW).is_ok()),
        ),
        (
            "validate ring",
            Box::new(|| v_ring.validate(&token, NOW).is_ok()),
        ),
        (
            "cache hit",
            Box::new(|| v_cached.validate(&token, NOW).is_ok()),
        ),
        (
            "non-signature work",
            Box::new(|| {
                // What validate does besides the signature: parse, decode and check claims,
                // consult the revocation state.
                let parsed = ParsedToken::parse(&token).unwrap();
                let claims = parsed.claims_if_verified(true).unwrap();
                let verified = check_claims(claims, v_ring.expectations(), NOW).unwrap();
                !v_ring.is_revoked(&verified, NOW)
            }),
        ),
    ];
    let r = measure(&mut ops, 5, Duration::from_millis(300));
    let (raw_p256, raw_ring, full_p256, full_ring, hit, rest) =
        (r[0], r[1], r[2], r[3], r[4], r[5]);

    println!(
        "raw p256 verify          {:>10.0} verifies/s    ({:>8.2} us each)",
        per_sec(raw_p256),
        raw_p256 / 1e3
    );
    println!(
        "raw ring verify          {:>10.0} verifies/s    ({:>8.2} us each)",
        per_sec(raw_ring),
        raw_ring / 1e3
    );
    println!(
        "validate (p256 backend)  {:>10.0} validations/s ({:>8.2} us each), {:+.1}% vs raw p256",
        per_sec(full_p256),
        full_p256 / 1e3,
        (full_p256 / raw_p256 - 1.0) * 100.0
    );
    println!(
        "validate (ring backend)  {:>10.0} validations/s ({:>8.2} us each), {:+.1}% vs raw ring, {:.2}x the raw ring verify time",
        per_sec(full_ring),
        full_ring / 1e3,
        (full_ring / raw_ring - 1.0) * 100.0,
        full_ring / raw_ring
    );
    println!(
        "non-signature work       {:>10.0} per s         ({:>8.2} us each) = {:.1}% of a raw ring verify",
        per_sec(rest),
        rest / 1e3,
        rest / raw_ring * 100.0
    );
    println!(
        "cache hit                {:>10.0} hits/s        ({:>8.0} ns each)",
        per_sec(hit),
        hit
    );

    revocations_at_scale(&sk, &kid, &jwks, &token);
}

/// Resident memory of this process (Linux; 0 elsewhere), bytes.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// 100,000 live revocations as mcpgate serves them (pages of 500): the time to apply the
/// paged snapshot (signature checks included), the state's memory, a validation against it,
/// and one pushed event applied on top.
fn revocations_at_scale(sk: &SigningKey, kid: &str, jwks: &JwkSet, token: &str) {
    const LIVE: u64 = 100_000;
    const PAGE: u64 = 500;
    let sign = |feed: &RevocationFeed| {
        let input = format!(
            "{}.{}",
            B64.encode(
                serde_json::json!({"alg": "ES256", "typ": "revocations+jwt", "kid": kid})
                    .to_string()
            ),
            B64.encode(serde_json::to_vec(feed).unwrap())
        );
        let sig: Signature = sk.sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.to_bytes()))
    };
    let page = |k: u64| RevocationFeed {
        iss: ISS.into(),
        iat: NOW,
        seq: (k + 1) * PAGE,
        full: k == 0,
        since: k * PAGE,
        more: (k + 1) * PAGE < LIVE,
        entries: (k * PAGE..(k + 1) * PAGE)
            .map(|i| RevocationEntry {
                kind: RevocationKind::Jti,
                id: format!("jti-{i:032x}"),
                revoked_at: NOW,
                expires_at: NOW + 86_400,
            })
            .collect(),
    };
    let pages: Vec<String> = (0..LIVE / PAGE).map(|k| sign(&page(k))).collect();
    let bytes: usize = pages.iter().map(String::len).sum();
    let mut c = ValidatorConfig::new(ISS, AUD);
    c.backend = Backend::Ring;
    c.cache_capacity = 0;
    let v = Validator::new(c);
    v.apply_jwks(jwks).unwrap();
    let before = rss();
    let start = Instant::now();
    for p in &pages {
        v.apply_revocation_feed(p, NOW).unwrap();
    }
    let applied = start.elapsed();
    let grown = rss().saturating_sub(before);
    assert_eq!(v.revocation_entries() as u64, LIVE);
    let start = Instant::now();
    let n = 10_000;
    for _ in 0..n {
        assert!(black_box(v.validate(token, NOW)).is_ok());
    }
    let validate = start.elapsed() / n;
    let event = sign(&RevocationFeed {
        iss: ISS.into(),
        iat: NOW,
        seq: LIVE + 1,
        full: false,
        since: LIVE,
        more: false,
        entries: vec![RevocationEntry {
            kind: RevocationKind::Client,
            id: "agent-7".into(),
            revoked_at: NOW,
            expires_at: NOW + 3600,
        }],
    });
    let start = Instant::now();
    v.apply_revocation_feed(&event, NOW).unwrap();
    let pushed = start.elapsed();
    println!(
        "\n{LIVE} live revocations as served (pages of {PAGE}, {:.1} MiB of feed):",
        bytes as f64 / 1_048_576.0
    );
    println!(
        "  apply the paged snapshot       {:>8.1} ms  ({} pages, signatures checked)",
        applied.as_secs_f64() * 1e3,
        pages.len()
    );
    println!(
        "  state memory (RSS growth)      {:>8.1} MiB ({:.0} bytes per entry)",
        grown as f64 / 1_048_576.0,
        grown as f64 / LIVE as f64
    );
    println!(
        "  validate against it            {:>8.2} us each (ring, no cache)",
        validate.as_secs_f64() * 1e6
    );
    println!(
        "  apply one pushed event on top  {:>8.1} us",
        pushed.as_secs_f64() * 1e6
    );
}
