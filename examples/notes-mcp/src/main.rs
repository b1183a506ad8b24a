//! `notes-mcp`: the example MCP server protected by mcpgate. See README.md.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use notes_mcp::{serve, shutdown_signal, Config, DEFAULT_RESOURCE};

/// An MCP server (streamable HTTP) with notes tools, accepting only mcpgate access tokens.
#[derive(Debug, Parser)]
#[command(name = "notes-mcp", version, about)]
struct Args {
    /// The mcpgate issuer identifier (its base URL), e.g. http://127.0.0.1:8787.
    #[arg(long, env = "MCPGATE_ISSUER")]
    issuer: String,

    /// This server's canonical URL: the MCP endpoint and the token audience.
    #[arg(long, env = "NOTES_RESOURCE", default_value = DEFAULT_RESOURCE)]
    resource: String,

    /// Address to listen on.
    #[arg(long, env = "NOTES_LISTEN", default_value = "127.0.0.1:8788")]
    listen: SocketAddr,

    /// Seconds between polls of mcpgate's revocation feed.
    #[arg(long, env = "NOTES_REVOCATION_POLL_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    revocation_poll_secs: u64,

    /// Client id to subscribe to mcpgate's revocation push channel with (a client an admin
    /// allowed to introspect this server's tokens). Without it the server only polls.
    #[arg(long, env = "NOTES_PUSH_CLIENT_ID", requires = "push_client_secret")]
    push_client_id: Option<String>,

    /// That client's secret.
    #[arg(long, env = "NOTES_PUSH_CLIENT_SECRET", hide_env_values = true)]
    push_client_secret: Option<String>,

    /// Also accept calls through an mcpgate gateway: the secret it signs its identity
    /// assertions with (GATEWAY_IDENTITY_SECRET on the gateway; 32 bytes or more). Environment
    /// only, so it never appears in a process listing.
    #[arg(skip = std::env::var("NOTES_GATEWAY_SECRET").ok())]
    gateway_secret: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(listen = %args.listen, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let config = Config {
        issuer: args.issuer.trim_end_matches('/').to_owned(),
        resource: args.resource,
        revocation_poll_secs: args.revocation_poll_secs,
        push: args.push_client_id.zip(args.push_client_secret),
        gateway_secret: args.gateway_secret,
    };
    match serve(listener, config, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "notes-mcp failed");
            ExitCode::FAILURE
        }
    }
}
