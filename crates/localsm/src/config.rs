//! Configuration of the built-in Stream Manager.

use std::path::PathBuf;
use std::time::Duration;

pub use red5_signal::dc::RelayForm;
use red5_signal::Secret;

/// Credentials the server checks when they are set.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// SM2 `PUT /as/v1/auth/login` Basic credentials; login returns a token required as
    /// `Authorization: Bearer` on SM2 admin calls (provisions).
    pub admin_user: String,
    pub admin_password: Secret,
    /// SM1 `?accessToken=` for admin calls.
    pub sm1_access_token: Secret,
    /// Round-trip authentication: when set, every publish/subscribe (WS connect params or
    /// WHIP/WHEP query) must carry exactly these `username`/`password`/`token` values.
    pub round_trip: Option<RoundTripAuth>,
}

#[derive(Debug, Clone, Default)]
pub struct RoundTripAuth {
    pub username: String,
    pub password: Secret,
    pub token: Secret,
}

/// Everything the server does that a test (or a user) may want to switch.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// 127.0.0.1 by default; must be a loopback address.
    pub host: String,
    /// 0 = ephemeral.
    pub port: u16,
    /// `proxy.enabled` of the Stream Manager: when false, the SM1/SM2 WS proxy and the SM2
    /// WHIP/WHEP proxy refuse.
    pub proxy_enabled: bool,
    pub auth: Option<AuthConfig>,
    /// The SM2 node group served (`default` is always accepted as an alias).
    pub node_group: String,
    /// Region / sub group reported by lookups.
    pub region: String,
    /// Form of relayed `send()` messages on data channels (A fires `Subscribe.Metadata` with the
    /// exact payload on every SDK 11 path; see FINDINGS.md).
    pub relay_form_dc: RelayForm,
    /// Form of relayed `send()` messages on a not-yet-switched WebSocket.
    pub relay_form_ws: RelayForm,
    /// Add `code` (`NetStream.Publish.Start` / `NetStream.Play.Start`) to the start status.
    pub start_status_code: bool,
    /// Announce `NetConnection.DataChannel.Available` as soon as the channel opens, even before
    /// the start status (test switch; default: start status first).
    pub dc_available_first: bool,
    /// A WebSocket with no client frame for this long is closed (pings keep live ones open).
    pub ws_idle_timeout: Duration,
    /// A WebRTC session that does not connect within this time is torn down.
    pub session_timeout: Duration,
    /// RTP packets queued per subscriber before packets are dropped for that subscriber only.
    pub subscriber_queue: usize,
    /// Require `host` on SM2 WHIP/WHEP PATCH/DELETE as the SM2 docs say. Off by default:
    /// SDK 11 never sends it (FINDINGS.md).
    pub sm2_require_host: bool,
    /// Optional directory served read-only under `/_static/` (test pages, local clients).
    pub static_root: Option<PathBuf>,
    /// ICE servers announced to WHIP/WHEP clients as `Link: <url>; rel="ice-server"` on OPTIONS
    /// and POST answers (empty = none; loopback needs none).
    pub ice_servers: Vec<red5_signal::whip::IceServer>,
    /// What joinGroup participants get on their extra audio tracks: `Talkers` (Red5: one of the
    /// loudest other talkers per track; play all tracks) or `MixMinusFirst` (the whole mix-minus
    /// on the first track, silence on the others).
    pub mix_minus: red5_mixer::AudioTrackPlan,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 0,
            proxy_enabled: true,
            auth: None,
            node_group: "default".into(),
            region: "local".into(),
            relay_form_dc: RelayForm::A,
            relay_form_ws: RelayForm::A,
            start_status_code: false,
            dc_available_first: false,
            ws_idle_timeout: Duration::from_secs(60),
            session_timeout: Duration::from_secs(30),
            subscriber_queue: 512,
            sm2_require_host: false,
            static_root: None,
            ice_servers: Vec::new(),
            mix_minus: red5_mixer::AudioTrackPlan::Talkers,
        }
    }
}
