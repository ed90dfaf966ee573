//! The one error type of the engine. Every variant says what kind of fault it is, so the daemon can
//! map it to an HTTP status without knowing the engine's internals.

use std::fmt;

/// What kind of fault an error is: who caused it and how a client should react.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request or the bundle is wrong (HTTP 400).
    InvalidArgument,
    /// No such container, process or checkpoint (HTTP 404).
    NotFound,
    /// The id is taken or the container is in the wrong state (HTTP 409).
    Conflict,
    /// A dependency (e.g. CRIU) is missing on this host (HTTP 503).
    Unavailable,
    /// A real internal fault (HTTP 500).
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Prefixes the message with context, keeping the kind.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::internal(err.to_string())
    }
}

impl From<nix::Error> for Error {
    fn from(err: nix::Error) -> Self {
        Error::internal(err.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
