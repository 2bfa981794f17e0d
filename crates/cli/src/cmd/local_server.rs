//! `local-server`: the built-in Red5-compatible Stream Manager in the foreground, so any Red5
//! client (ours, the official SDK, a testbed page) can be developed against it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use red5_localsm::{AuthConfig, LocalServer, ServerConfig};
use red5_signal::Secret;

use crate::{CliError, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// TCP port (0 picks a free one and prints it).
    #[arg(long, default_value_t = 5080)]
    pub port: u16,
    /// Loopback address to bind; other addresses are refused.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Behave like a Stream Manager with proxy.enabled=false: the WS and WHIP/WHEP proxy refuse.
    #[arg(long)]
    pub no_proxy: bool,
    /// SM2 node group served (`default` is always accepted too).
    #[arg(long, default_value = "default")]
    pub node_group: String,
    /// Require SM2 admin login with this user (needs --admin-password).
    #[arg(long, requires = "admin_password")]
    pub admin_user: Option<String>,
    /// SM2 admin password (prefer the environment variable: arguments show up in `ps`).
    #[arg(long, env = "RED5_LOCAL_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// SM1 `accessToken` required on admin calls.
    #[arg(long, env = "RED5_LOCAL_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// Directory served read-only under /_static/ (test pages, local clients).
    #[arg(long, value_name = "DIR")]
    pub static_dir: Option<PathBuf>,
}

impl Args {
    fn server_config(&self) -> ServerConfig {
        let auth = (self.admin_user.is_some() || self.access_token.is_some()).then(|| AuthConfig {
            admin_user: self.admin_user.clone().unwrap_or_default(),
            admin_password: Secret::new(self.admin_password.clone().unwrap_or_default()),
            sm1_access_token: Secret::new(self.access_token.clone().unwrap_or_default()),
            round_trip: None,
        });
        ServerConfig {
            host: self.host.clone(),
            port: self.port,
            proxy_enabled: !self.no_proxy,
            node_group: self.node_group.clone(),
            auth,
            static_root: self.static_dir.clone(),
            ..ServerConfig::default()
        }
    }
}

pub fn run(_ctx: &Context, args: &Args, out: &mut impl Write) -> Result<ExitCode, CliError> {
    let rt = crate::signals::runtime()?;
    rt.block_on(async {
        let mut stop = crate::signals::Stop::install();
        let server = LocalServer::start(args.server_config()).await?;
        let base = server.base_url();
        // The first line is machine-readable: scripts and tests read the URL from it.
        writeln!(out, "listening on {base}")?;
        writeln!(
            out,
            "  SM2: {base}/as/v1/proxy/whip/live/<stream>, ws{}/as/v1/proxy/ws/publish/live/<stream>",
            base.trim_start_matches("http")
        )?;
        writeln!(
            out,
            "  SM1: {base}/streammanager/api/4.0/event/live/<stream>?action=broadcast"
        )?;
        writeln!(out, "Press Ctrl+C to stop.")?;
        out.flush()?;
        stop.wait().await;
        server.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
