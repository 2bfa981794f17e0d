//! Ctrl+C and SIGTERM (what service managers and test harnesses send). The handlers are
//! installed when `Stop::install` runs (inside the runtime), so a signal that arrives before the
//! first wait still stops cleanly instead of killing the process.

pub struct Stop {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Stop {
    #[cfg(unix)]
    pub fn install() -> Stop {
        use tokio::signal::unix::{signal, SignalKind};
        Stop {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    #[cfg(not(unix))]
    pub fn install() -> Stop {
        Stop {}
    }

    /// Resolves on the next Ctrl+C or SIGTERM.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        {
            if let (Some(term), Some(int)) = (self.term.as_mut(), self.int.as_mut()) {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, crate::CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(crate::CliError::Runtime)
}
