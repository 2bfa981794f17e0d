//! Runs the built-in Stream Manager in the foreground (development aid).
//! usage: cargo run -p red5-localsm --example serve -- [port] [static-dir]
use red5_localsm::{LocalServer, ServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber_init();
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(5080);
    let static_root = args.next().map(std::path::PathBuf::from);
    let s = LocalServer::start(ServerConfig {
        port,
        static_root,
        ..Default::default()
    })
    .await?;
    println!("listening on {}", s.base_url());
    tokio::signal::ctrl_c().await?;
    s.shutdown().await;
    Ok(())
}

fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}
