//! [`Fetch`] over the Workers runtime's `fetch()` (feature `workers`), through the `worker`
//! crate. Its futures are `!Send`, which [`Fetch`] allows.

use super::{Fetch, FetchError, FetchResponse, MAX_BODY_BYTES};

/// Fetches with the Workers global `fetch()`.
#[derive(Debug, Clone)]
pub struct WorkersFetch {
    max_body: usize,
}

impl Default for WorkersFetch {
    fn default() -> Self {
        WorkersFetch::new()
    }
}

impl WorkersFetch {
    /// A fetcher bounded to [`MAX_BODY_BYTES`] per response.
    pub fn new() -> Self {
        WorkersFetch {
            max_body: MAX_BODY_BYTES,
        }
    }
}

fn err(context: &str, e: worker::Error) -> FetchError {
    FetchError::new(format!("{context}: {e}"))
}

impl Fetch for WorkersFetch {
    async fn get(
        &self,
        url: &str,
        if_none_match: Option<&str>,
    ) -> Result<FetchResponse, FetchError> {
        let headers = worker::Headers::new();
        if let Some(etag) = if_none_match {
            headers
                .set("If-None-Match", etag)
                .map_err(|e| err("setting If-None-Match", e))?;
        }
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Get).with_headers(headers);
        let request =
            worker::Request::new_with_init(url, &init).map_err(|e| err("building request", e))?;
        let mut response = worker::Fetch::Request(request)
            .send()
            .await
            .map_err(|e| err("fetch failed", e))?;
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let cache_control = header("cache-control");
        let etag = header("etag");
        let status = response.status_code();
        if header("content-length")
            .and_then(|n| n.trim().parse::<u64>().ok())
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(FetchError::new("response body too large"));
        }
        let body = if status == 304 {
            Vec::new()
        } else {
            response.bytes().await.map_err(|e| err("reading body", e))?
        };
        if body.len() > self.max_body {
            return Err(FetchError::new("response body too large"));
        }
        Ok(FetchResponse {
            status,
            cache_control,
            etag,
            body,
        })
    }
}
