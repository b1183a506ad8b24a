//! Verifies access tokens with both signature backends, for cross-checks against a running
//! mcpgate (the HTTP suite uses it): `verify <issuer> <audience> <jwks.json>`, tokens on stdin,
//! one line per token out: `p256=<ok|error> ring=<ok|error>`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::BufRead;

use mcpgate_guard::backend::Backend;
use mcpgate_guard::validator::{Validator, ValidatorConfig};

fn validator(issuer: &str, audience: &str, jwks: &[u8], backend: Backend) -> Validator {
    let mut config = ValidatorConfig::new(issuer, audience);
    config.backend = backend;
    config.cache_capacity = 0;
    config.revocation_max_age_secs = None;
    let v = Validator::new(config);
    v.apply_jwks_json(jwks).expect("jwks");
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (issuer, audience, jwks_path) = (&args[1], &args[2], &args[3]);
    let jwks = std::fs::read(jwks_path).expect("read jwks");
    let p256 = validator(issuer, audience, &jwks, Backend::P256);
    let ring = validator(issuer, audience, &jwks, Backend::Ring);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for line in std::io::stdin().lock().lines() {
        let token = line.unwrap();
        let verdict = |r: Result<_, mcpgate_guard::TokenError>| match r {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{e:?}"),
        };
        println!(
            "p256={} ring={}",
            verdict(p256.validate(token.trim(), now)),
            verdict(ring.validate(token.trim(), now))
        );
    }
}
