use std::io;
use std::path::PathBuf;

use crate::Version;

/// Every error this crate returns.
#[derive(Debug, thiserror::Error)]
pub enum CriuError {
    /// No criu binary (not on PATH, or the explicit path does not exist / is not executable).
    #[error(
        "criu binary not found ({searched}): install CRIU >= {min} (on Debian 12 it must come from Debian \
         unstable: run scripts/install-criu.sh)",
        min = crate::MIN_VERSION_STR
    )]
    NotFound {
        /// What was looked at (path or PATH directories).
        searched: String,
    },

    /// The installed criu is older than required.
    #[error(
        "criu {found} is too old: CRIU >= {required} is required (on Debian 12 install it from Debian unstable: \
         run scripts/install-criu.sh)"
    )]
    TooOld {
        /// What `criu` reported.
        found: Version,
        /// The minimum, e.g. "4.2".
        required: String,
    },

    /// Starting `criu swrk` failed.
    #[error("failed to start {binary:?} swrk: {source}")]
    Spawn {
        /// The binary we tried to run.
        binary: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// criu answered something we did not expect (bad message, wrong type, ...).
    #[error("criu RPC protocol error: {0}")]
    Protocol(String),

    /// criu ran the request and reported failure (or died while serving it).
    ///
    /// `message` carries CRIU's own `cr_errmsg` / `cr_errno` (and the error of the notify
    /// callback if that is what aborted the operation); `log_tail` the last lines of CRIU's log.
    #[error("{}", fmt_failed(message, log_tail))]
    Failed {
        /// What failed, with CRIU's error message / errno.
        message: String,
        /// The last ~40 lines of CRIU's log file (empty when there is none).
        log_tail: String,
    },

    /// A local I/O error (opening the images dir, socket I/O, ...).
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

fn fmt_failed(message: &str, log_tail: &str) -> String {
    if log_tail.trim().is_empty() {
        format!("criu failed: {message}")
    } else {
        format!(
            "criu failed: {message}\n--- criu log (tail) ---\n{}",
            log_tail.trim_end()
        )
    }
}

impl CriuError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> CriuError {
        CriuError::Io {
            context: context.into(),
            source,
        }
    }
}
