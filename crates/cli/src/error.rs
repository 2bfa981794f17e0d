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
}
