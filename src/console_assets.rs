//! The admin console's script and stylesheet, bundled by `build.rs` and embedded in the Worker:
//! answered from memory (`http::fixed`) rather than through Workers static assets, whose router
//! would sit in front of every request to the token service (see the README's architecture).

use mcpgate_core::endpoints::console::Assets;

pub const ASSETS: Assets = Assets {
    script: include_bytes!(concat!(env!("OUT_DIR"), "/console.js")),
    style: include_bytes!(concat!(env!("OUT_DIR"), "/console.css")),
    version: env!("MCPGATE_CONSOLE_VERSION"),
};
