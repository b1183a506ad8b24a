//! mcpgate on Cloudflare Workers: the glue between the runtime and `mcpgate-core`.
//!
//! This crate makes no protocol decisions. Per request it reads the clock, the configuration
//! and the bindings, converts the request, calls `Service::handle`, logs internal detail the
//! core attached, and converts the response back.

mod bench;
mod console_assets;
pub(crate) mod crypto;
mod http;
mod hub;
pub(crate) mod store;

use mcpgate_core::wire::{Error, LogDetail};
use mcpgate_core::{Config, Service};
use rand_core::OsRng;
use worker::{
    console_error, console_log, event, Context, Date, Env, ScheduleContext, ScheduledEvent,
};

use crate::store::d1::D1Db;
use crate::store::kv::KvRevocations;
use crate::store::WorkerStore;
use mcpgate_core::issue::KeyCache;

/// Binding name of the D1 registry database.
const DB_BINDING: &str = "DB";
/// Binding name of the KV revocation list.
const KV_BINDING: &str = "REVOCATIONS";
/// Binding name of the KV cache (client metadata documents).
const CACHE_BINDING: &str = "CACHE";

thread_local! {
    /// The isolate's signing-key cache (see `mcpgate_core::issue::KEY_CACHE_SECS`).
    static KEY_CACHE: &'static KeyCache = Box::leak(Box::new(KeyCache::new()));
}

pub(crate) fn key_cache() -> &'static KeyCache {
    KEY_CACHE.with(|k| *k)
}

pub(crate) fn store(env: &Env) -> Result<WorkerStore, Error> {
    let db = env
        .d1(DB_BINDING)
        .map_err(|e| Error::Misconfigured(format!("D1 binding {DB_BINDING}: {e}")))?;
    let kv = env
        .kv(KV_BINDING)
        .map_err(|e| Error::Misconfigured(format!("KV binding {KV_BINDING}: {e}")))?;
    let cache = env
        .kv(CACHE_BINDING)
        .map_err(|e| Error::Misconfigured(format!("KV binding {CACHE_BINDING}: {e}")))?;
    Ok(WorkerStore {
        db: D1Db::new(db),
        kv: KvRevocations::new(kv),
        outbound: crate::store::outbound::WorkerOutbound::new(cache),
        hub: env.durable_object(crate::hub::HUB_BINDING).ok(),
    })
}

pub(crate) fn now_secs() -> i64 {
    (Date::now().as_millis() / 1000) as i64
}

/// What the Worker reads from its vars and secrets: fixed for the life of an isolate (changing
/// a var or a secret deploys a new version, which runs in new isolates), so read once per
/// isolate rather than once per request.
pub(crate) struct Settings {
    config: Result<Config, String>,
    pub(crate) crypto: crypto::PlatformCrypto,
    /// `MCPGATE_BENCH_HEADERS`: `make bench` reads how many D1 round trips a request made.
    bench_headers: bool,
}

thread_local! {
    static SETTINGS: std::cell::OnceCell<&'static Settings> = const { std::cell::OnceCell::new() };
}

pub(crate) fn settings(env: &Env) -> &'static Settings {
    SETTINGS.with(|cell| {
        *cell.get_or_init(|| {
            let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
            Box::leak(Box::new(Settings {
                config: Config::from_vars(var)
                    .map(|mut c| {
                        c.console_assets = console_assets::ASSETS;
                        c
                    })
                    .map_err(|e| e.to_string()),
                crypto: crypto::PlatformCrypto {
                    sign_in_wasm: var("MCPGATE_SIGNER").is_some_and(|v| v == "p256"),
                    repeat: var("MCPGATE_BENCH_SIGN_REPEAT")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1)
                        .clamp(1, 1000),
                },
                bench_headers: var("MCPGATE_BENCH_HEADERS").is_some_and(|v| v == "true"),
            }))
        })
    })
}

pub(crate) fn config(settings: &Settings) -> Result<&Config, Error> {
    settings
        .config
        .as_ref()
        .map_err(|e| Error::Misconfigured(e.clone()))
}

/// What the Worker answers: the core's response, or (the push channel) the hub's WebSocket
/// upgrade, which only the runtime's own response type can carry.
enum Answer {
    Core(mcpgate_core::wire::Response),
    Raw(web_sys::Response),
}

async fn respond(req: web_sys::Request, env: &Env) -> Result<Answer, worker::Error> {
    let now = now_secs();
    let settings = settings(env);
    let prepared = async {
        let config = config(settings)?;
        let store = store(env)?;
        let req = http::to_core(req).await?;
        Ok::<_, Error>((config, store, req))
    };
    let (config, store, req) = match prepared.await {
        Ok(p) => p,
        Err(e) => return Ok(Answer::Core(e.into_response())),
    };
    let svc = Service::new(config, &store, &settings.crypto, key_cache());
    let path = req.uri().path();
    if path == mcpgate_core::endpoints::feed::SUBSCRIBE_PATH {
        return subscribe(&svc, &req, env).await;
    }
    if path == bench::PATH && settings.bench_headers {
        let n = bench::kv_list(&env.kv(KV_BINDING)?)
            .await
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        return Ok(Answer::Raw(worker::Response::ok(n.to_string())?.into()));
    }
    let mut resp = svc.handle(req, now, &mut OsRng).await;
    if settings.bench_headers {
        if let Ok(v) = store.db.round_trips.get().to_string().parse() {
            resp.headers_mut().insert("x-mcpgate-d1-round-trips", v);
        }
    }
    Ok(Answer::Core(resp))
}

#[event(fetch)]
async fn fetch(
    req: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> Result<web_sys::Response, worker::Error> {
    if let Ok(config) = config(settings(&env)) {
        if let Some(fixed) = http::fixed(&req, config) {
            return fixed.map_err(worker::Error::from);
        }
    }
    let resp = match respond(req, &env).await? {
        Answer::Raw(raw) => return Ok(raw),
        Answer::Core(resp) => resp,
    };
    if let Some(LogDetail(detail)) = resp.extensions().get::<LogDetail>() {
        console_error!("{} {}", resp.status().as_u16(), detail);
    }
    http::from_core(resp).map_err(worker::Error::from)
}

/// `GET /revocations/subscribe`: the push channel. The Worker authenticates the subscriber
/// ([`mcpgate_core::endpoints::feed::authorize_subscriber`]) and hands the upgrade to the
/// revocation hub, whose socket it returns.
async fn subscribe(
    svc: &Service<'_, WorkerStore, crypto::PlatformCrypto>,
    req: &mcpgate_core::wire::Request,
    env: &Env,
) -> Result<Answer, worker::Error> {
    let upgrade = req
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if req.method() != ::http::Method::GET || !upgrade.eq_ignore_ascii_case("websocket") {
        return Ok(Answer::Core(
            Error::InvalidRequest(
                "the push channel is a WebSocket: GET with Upgrade: websocket".into(),
            )
            .into_response(),
        ));
    }
    let client = match mcpgate_core::endpoints::feed::authorize_subscriber(svc, req).await {
        Ok(c) => c,
        Err(e) => return Ok(Answer::Core(e.into_response())),
    };
    let ns = env.durable_object(hub::HUB_BINDING)?;
    let stub = ns.id_from_name(hub::HUB_NAME)?.get_stub()?;
    let headers = worker::Headers::new();
    headers.set("upgrade", "websocket")?;
    headers.set(hub::SUBSCRIBER_HEADER, &client)?;
    let forwarded = worker::Request::new_with_init(
        &format!("https://hub{}", hub::SUBSCRIBE_PATH),
        worker::RequestInit::new().with_headers(headers),
    )?;
    Ok(Answer::Raw(
        stub.fetch_with_request(forwarded).await?.into(),
    ))
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let settings = settings(&env);
    let config = match config(settings) {
        Ok(c) => c,
        Err(e) => {
            console_error!("scheduled: {e:?}");
            return;
        }
    };
    let store = match store(&env) {
        Ok(s) => s,
        Err(e) => {
            console_error!("scheduled: {e:?}");
            return;
        }
    };
    match Service::new(config, &store, &settings.crypto, key_cache())
        .scheduled(now_secs(), &mut OsRng)
        .await
    {
        Ok(report) => console_log!("scheduled: {report}"),
        Err(e) => console_error!("scheduled: {e:?}"),
    }
}
