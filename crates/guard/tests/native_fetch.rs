//! The `native` fetcher against a local HTTP server (loopback only).
#![cfg(feature = "native")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use common::*;
use mcpgate_guard::fetch::native::ReqwestFetch;
use mcpgate_guard::{Fetch, Guard, GuardConfig};

/// Serves `responses` to successive connections on 127.0.0.1, returning the base URL and a
/// handle yielding the raw requests.
fn serve(responses: Vec<String>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for response in responses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut req = Vec::new();
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            requests.push(String::from_utf8_lossy(&req).into_owned());
            stream.write_all(response.as_bytes()).unwrap();
        }
        requests
    });
    (base, handle)
}

fn http(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

mod native_fetch {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn returns_status_caching_headers_and_body_and_sends_if_none_match() {
        let (base, server) = serve(vec![
            http(
                "200 OK",
                &[("Cache-Control", "max-age=60"), ("ETag", "\"v1\"")],
                "hello",
            ),
            http("304 Not Modified", &[("ETag", "\"v1\"")], ""),
        ]);
        let f = ReqwestFetch::new().unwrap();
        let r = f.get(&format!("{base}/jwks"), None).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.cache_control.as_deref(), Some("max-age=60"));
        assert_eq!(r.etag.as_deref(), Some("\"v1\""));
        assert_eq!(r.body, b"hello");
        let r = f
            .get(&format!("{base}/jwks"), Some("\"v1\""))
            .await
            .unwrap();
        assert_eq!(r.status, 304);
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("GET /jwks HTTP/1.1"));
        assert!(!requests[0].to_ascii_lowercase().contains("if-none-match"));
        assert!(requests[1]
            .to_ascii_lowercase()
            .contains("if-none-match: \"v1\""));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn unreachable_server_is_a_fetch_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let f = ReqwestFetch::new().unwrap();
        assert!(f.get(&format!("http://{addr}/x"), None).await.is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_guard_over_reqwest_validates_tokens() {
        let k = Key::new(1);
        let jwks = String::from_utf8(jwks(&[&k])).unwrap();
        let feed = sign_feed(&k, &full_feed(1, vec![]));
        let (base, server) = serve(vec![
            http("200 OK", &[("Cache-Control", "max-age=600")], &jwks),
            http("200 OK", &[("ETag", "\"f1\"")], &feed),
        ]);
        let mut config = GuardConfig::new(ISS, AUD);
        config.jwks_url = format!("{base}/.well-known/jwks.json");
        config.revocations_url = Some(format!("{base}/revocations"));
        let guard = Guard::new(config, ReqwestFetch::new().unwrap());
        assert!(guard.validate(&token(&k), T0).await.is_ok());
        server.join().unwrap();
    }

    #[test]
    fn guard_over_reqwest_is_send_and_sync() {
        fn assert_send<T: Send>(_: &T) {}
        fn assert_sync<T: Sync>() {}
        assert_sync::<Guard<ReqwestFetch>>();
        let guard = Guard::new(GuardConfig::new(ISS, AUD), ReqwestFetch::new().unwrap());
        let fut = guard.validate("t", T0);
        assert_send(&fut);
    }
}
