//! The core's `Crypto` on the platform's WebCrypto (`crypto.subtle`), which runs natively in
//! workerd: ES256 signing ~35x cheaper than p256 compiled to WebAssembly, and PBKDF2 at native
//! speed. Private keys are imported once per isolate as non-extractable `CryptoKey`s and cached
//! by kid; WebCrypto's ECDSA output is already the raw `r || s` form JWS uses. Verification is
//! the guard crate's WebCrypto backend — the very code offline validators on Workers run, with
//! its key cache — not a second implementation.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use js_sys::{Array, Object, Reflect, Uint8Array};
use mcpgate_core::crypto::{Crypto, CryptoError, PrivateKey, RsaPublicKey};
use mcpgate_guard::EcPublicJwk;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

thread_local! {
    /// Imported signing keys by kid (isolate lifetime; keys are immutable per kid).
    static PRIVATE: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
}

/// Most keys cached per isolate (a JWKS holds 2-4; the cap only bounds misuse).
const MAX_CACHED_KEYS: usize = 32;

/// WebCrypto-backed crypto.
#[derive(Debug, Default, Clone, Copy)]
pub struct WebCrypto;

/// What the Worker passes to the core: WebCrypto for everything, unless `MCPGATE_SIGNER=p256`
/// asks for pure-Rust p256 signing (compiled to WebAssembly). That switch exists to measure
/// the difference (`make bench`) and to prove tokens signed either way verify the same; it is
/// not a production setting. Verification and PBKDF2 always use WebCrypto.
#[derive(Debug, Clone, Copy)]
pub struct PlatformCrypto {
    /// Sign with p256 in WebAssembly instead of WebCrypto.
    pub sign_in_wasm: bool,
    /// Benchmarks only (`MCPGATE_BENCH_SIGN_REPEAT`): compute each signature this many times,
    /// so the per-signature CPU cost stands out from the request's other work.
    pub repeat: u32,
}

impl Crypto for PlatformCrypto {
    async fn sign_es256(&self, key: &PrivateKey, message: &[u8]) -> Result<[u8; 64], CryptoError> {
        let mut sig = Err(CryptoError("no signature".into()));
        for _ in 0..self.repeat.max(1) {
            sig = if self.sign_in_wasm {
                mcpgate_core::crypto::SoftwareCrypto
                    .sign_es256(key, message)
                    .await
            } else {
                WebCrypto.sign_es256(key, message).await
            };
        }
        sig
    }

    async fn verify_es256(&self, key: &EcPublicJwk, message: &[u8], signature: &[u8]) -> bool {
        WebCrypto.verify_es256(key, message, signature).await
    }

    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], CryptoError> {
        WebCrypto.pbkdf2_sha256(password, salt, iterations).await
    }

    async fn verify_rs256(&self, key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
        WebCrypto.verify_rs256(key, message, signature).await
    }
}

fn err(context: &str) -> impl Fn(JsValue) -> CryptoError + '_ {
    move |e| {
        CryptoError(format!(
            "{context}: {}",
            e.as_string().unwrap_or_else(|| format!("{e:?}"))
        ))
    }
}

fn subtle() -> Result<SubtleCrypto, CryptoError> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(err("global crypto"))?;
    let subtle =
        Reflect::get(&crypto, &JsValue::from_str("subtle")).map_err(err("crypto.subtle"))?;
    subtle
        .dyn_into::<SubtleCrypto>()
        .map_err(err("crypto.subtle type"))
}

fn obj(pairs: &[(&str, JsValue)]) -> Result<Object, CryptoError> {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).map_err(err("object"))?;
    }
    Ok(o)
}

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn ecdsa_params() -> Result<Object, CryptoError> {
    obj(&[("name", s("ECDSA")), ("hash", s("SHA-256"))])
}

fn usages(u: &str) -> JsValue {
    Array::of1(&s(u)).into()
}

async fn import_jwk(jwk: &Object, usage: &str) -> Result<CryptoKey, CryptoError> {
    let alg = obj(&[("name", s("ECDSA")), ("namedCurve", s("P-256"))])?;
    let promise = subtle()?
        .import_key_with_object("jwk", jwk, &alg, false, &usages(usage))
        .map_err(err("importKey"))?;
    JsFuture::from(promise)
        .await
        .map_err(err("importKey"))?
        .dyn_into::<CryptoKey>()
        .map_err(err("importKey result"))
}

fn cached(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<String, CryptoKey>>>,
    kid: &str,
) -> Option<CryptoKey> {
    cache.with(|c| c.borrow().get(kid).cloned())
}

fn remember(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<String, CryptoKey>>>,
    kid: &str,
    key: &CryptoKey,
) {
    cache.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED_KEYS {
            c.clear();
        }
        c.insert(kid.to_owned(), key.clone());
    });
}

async fn private_key(key: &PrivateKey) -> Result<CryptoKey, CryptoError> {
    if let Some(k) = cached(&PRIVATE, &key.kid) {
        return Ok(k);
    }
    let jwk = obj(&[
        ("kty", s("EC")),
        ("crv", s("P-256")),
        ("x", s(&key.public.x)),
        ("y", s(&key.public.y)),
        ("d", s(&B64.encode(key.scalar()))),
    ])?;
    let k = import_jwk(&jwk, "sign").await?;
    remember(&PRIVATE, &key.kid, &k);
    Ok(k)
}

impl Crypto for WebCrypto {
    async fn sign_es256(&self, key: &PrivateKey, message: &[u8]) -> Result<[u8; 64], CryptoError> {
        let k = private_key(key).await?;
        let promise = subtle()?
            .sign_with_object_and_u8_array(&ecdsa_params()?, &k, message)
            .map_err(err("sign"))?;
        let buf = JsFuture::from(promise).await.map_err(err("sign"))?;
        let bytes = Uint8Array::new(&buf).to_vec();
        bytes
            .try_into()
            .map_err(|_| CryptoError("sign: unexpected signature length".into()))
    }

    async fn verify_es256(&self, key: &EcPublicJwk, message: &[u8], signature: &[u8]) -> bool {
        use mcpgate_guard::backend::{AsyncVerifier, Backend, VerifierKey};
        let Ok(vk) = key.to_key() else {
            return false;
        };
        // WebCrypto on wasm32 (the guard's `workers` feature); p256 in native builds of the
        // glue, which only its unit tests compile.
        matches!(
            Backend::default()
                .verify_es256(&VerifierKey::new(vk), message, signature)
                .await,
            Ok(true)
        )
    }

    async fn pbkdf2_sha256(
        &self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Result<[u8; 32], CryptoError> {
        let subtle = subtle()?;
        let raw = Uint8Array::from(password);
        let promise = subtle
            .import_key_with_object(
                "raw",
                &raw,
                &obj(&[("name", s("PBKDF2"))])?,
                false,
                &usages("deriveBits"),
            )
            .map_err(err("importKey pbkdf2"))?;
        let base = JsFuture::from(promise)
            .await
            .map_err(err("importKey pbkdf2"))?
            .dyn_into::<CryptoKey>()
            .map_err(err("importKey pbkdf2 result"))?;
        let params = obj(&[
            ("name", s("PBKDF2")),
            ("hash", s("SHA-256")),
            ("salt", Uint8Array::from(salt).into()),
            ("iterations", JsValue::from_f64(f64::from(iterations))),
        ])?;
        let promise = subtle
            .derive_bits_with_object(&params, &base, 256)
            .map_err(err("deriveBits"))?;
        let buf = JsFuture::from(promise).await.map_err(err("deriveBits"))?;
        Uint8Array::new(&buf)
            .to_vec()
            .try_into()
            .map_err(|_| CryptoError("deriveBits: unexpected length".into()))
    }

    async fn verify_rs256(&self, key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
        if !key.acceptable() {
            return false;
        }
        rs256(key, message, signature).await.unwrap_or(false)
    }
}

/// RSASSA-PKCS1-v1_5 / SHA-256 through WebCrypto (keys are imported per call: upstream ID
/// tokens are verified once per sign-in, not per request).
async fn rs256(key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> Result<bool, CryptoError> {
    let params = obj(&[("name", s("RSASSA-PKCS1-v1_5")), ("hash", s("SHA-256"))])?;
    let jwk = obj(&[
        ("kty", s("RSA")),
        ("n", s(&B64.encode(&key.n))),
        ("e", s(&B64.encode(&key.e))),
    ])?;
    let subtle = subtle()?;
    let promise = subtle
        .import_key_with_object("jwk", &jwk, &params, false, &usages("verify"))
        .map_err(err("importKey rsa"))?;
    let k = JsFuture::from(promise)
        .await
        .map_err(err("importKey rsa"))?
        .dyn_into::<CryptoKey>()
        .map_err(err("importKey rsa result"))?;
    let promise = subtle
        .verify_with_object_and_u8_array_and_u8_array(&params, &k, signature, message)
        .map_err(err("verify rsa"))?;
    Ok(JsFuture::from(promise)
        .await
        .map_err(err("verify rsa"))?
        .as_bool()
        .unwrap_or(false))
}
