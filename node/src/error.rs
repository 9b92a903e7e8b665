//! How a request fails on the wire: a kind beside the one-line message.
//!
//! Each operation has its own error enum (`ActorError`, `PeersError`,
//! `HostError`, `RemoteError`, ...), and each says which [`ErrorKind`] it is;
//! [`Failure`] is what they all become where a request is answered, and
//! `Response::Error` is what a `Failure` becomes on the wire.

use roam_actors::ActorError;

pub use crate::api::ErrorKind;
use crate::api::Response;

/// A request's failure: what the user reads and what a caller decides on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Failure {
        Failure::new(ErrorKind::Internal, message)
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(ErrorKind::InvalidInput, message)
    }

    pub fn refused(message: impl Into<String>) -> Failure {
        Failure::new(ErrorKind::Refused, message)
    }

    /// A `Response::Error` from another node, taken back as ours.
    pub fn from_response(response: Response) -> Result<Response, Failure> {
        match response {
            Response::Error { kind, message } => Err(Failure { kind, message }),
            other => Ok(other),
        }
    }
}

impl From<Failure> for Response {
    fn from(f: Failure) -> Response {
        Response::Error {
            kind: f.kind,
            message: f.message,
        }
    }
}

impl From<ActorError> for Failure {
    fn from(e: ActorError) -> Failure {
        Failure::new(e.kind().into(), e.to_string())
    }
}

/// An operation's error enum that knows its kind.
pub trait HasKind: std::fmt::Display {
    fn kind(&self) -> ErrorKind;
}

/// Turns any operation's error into a [`Failure`] (`.map_err(fail)`).
pub fn fail<E: HasKind>(e: E) -> Failure {
    Failure::new(e.kind(), e.to_string())
}
