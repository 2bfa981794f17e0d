/// Everything the CLI can fail with, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] red5_config::ConfigError),
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error(transparent)]
    Server(#[from] red5_localsm::LocalSmError),
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("could not encode JSON output: {0}")]
    Json(#[from] serde_json::Error),
    /// A publish/subscribe session could not start or ended with this (already a sentence).
    #[error(transparent)]
    Session(#[from] red5_session::Error),
    /// A camera, microphone or media file problem.
    #[error(transparent)]
    Media(#[from] red5_media::MediaError),
    /// An option value that cannot work; exits with 2 like clap's own usage errors.
    #[error("{0}")]
    Usage(String),
    /// Talking to a running `publish` through its control socket.
    #[error("{0}")]
    Control(String),
}

impl CliError {
    /// 2 for usage mistakes (as clap does), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            _ => 1,
        }
    }
}
