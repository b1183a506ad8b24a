//! Bundles the admin console (`src/console`, with the esbuild that `.ci/setup` installs) into
//! `OUT_DIR` for `src/console_assets.rs` to embed, and names the bundle's version (a hash of
//! both files) in `MCPGATE_CONSOLE_VERSION`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    println!("cargo:rerun-if-changed=src/console");
    println!("cargo:rerun-if-changed=.ci/build-console");
    // A new esbuild or Preact; and esbuild installed after a native build went without it.
    println!("cargo:rerun-if-changed=package-lock.json");
    println!("cargo:rerun-if-changed=node_modules/.bin/esbuild");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let for_worker = env::var("CARGO_CFG_TARGET_ARCH")? == "wasm32";
    if root.join("node_modules/.bin/esbuild").exists() {
        let status = Command::new("bash")
            .arg(root.join(".ci/build-console"))
            .arg(&out)
            .status()?;
        if !status.success() {
            return Err(format!("bundling the admin console failed ({status})").into());
        }
    } else if for_worker {
        return Err(
            "the admin console needs esbuild: run `bash .ci/setup` (or `make build`)".into(),
        );
    } else {
        // A native build (clippy, the glue's unit tests) without the toolchain: no console.
        println!("cargo:warning=esbuild is not installed (bash .ci/setup): no console assets in this build");
        fs::write(out.join("console.js"), b"")?;
        fs::write(out.join("console.css"), b"")?;
    }
    println!("cargo:rustc-env=MCPGATE_CONSOLE_VERSION={}", version(&out)?);
    Ok(())
}

/// FNV-1a (64 bits) over both files, each after its length: a cache key, not a security
/// boundary.
fn version(dir: &Path) -> Result<String, Failure> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for name in ["console.js", "console.css"] {
        let bytes = fs::read(dir.join(name))?;
        for b in (bytes.len() as u64).to_le_bytes().into_iter().chain(bytes) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(format!("{h:016x}"))
}
