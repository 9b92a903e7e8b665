use roam_gitsync::GitError;

/// What kind of failure an error is, so a caller can tell "try again" or
/// "try elsewhere" from "final" without reading the message. The node puts
/// it on the wire beside the message (`node::api::ErrorKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    /// The request carried an older epoch than the node holds, or the node
    /// holds a superseded copy: locate the owner again and retry.
    Stale,
    Unreachable,
    /// Not allowed (unsaved work without --force, a peer asking for a
    /// local-only request).
    Refused,
    InvalidInput,
    /// Something by that name already exists.
    Conflict,
    /// Try again shortly (another operation on it is under way).
    Busy,
    Internal,
}

/// Every way a workspace operation can fail, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("workspace '{name}' already exists")]
    NameInUse { name: String },
    #[error("no workspace named '{name}'")]
    NoSuchWorkspace { name: String },
    #[error("workspace '{workspace}' has no agent '{agent}' (agents: {known})")]
    NoSuchAgent {
        workspace: String,
        agent: String,
        known: String,
    },
    #[error("workspace '{workspace}' has no agents; add one with `roam agent add {workspace}`")]
    NoAgents { workspace: String },
    #[error("unknown agent profile '{name}' (known: {known})")]
    UnknownProfile { name: String, known: String },
    #[error("agent profile '{profile}' needs '{program}', which is not in PATH")]
    ProgramMissing { profile: String, program: String },
    #[error("branch '{branch}' already exists in {repo}; remove it or pick another workspace name")]
    BranchExists { branch: String, repo: String },
    #[error(
        "workspace '{name}' has {what}; commit or merge it first, or use --force (a snapshot ref keeps the work)"
    )]
    UnsavedWork { name: String, what: String },
    #[error("agent '{agent}' is not running ({status}); start it with `roam start {workspace}`")]
    AgentNotRunning {
        workspace: String,
        agent: String,
        status: String,
    },
    #[error("workspace '{name}' is being {doing}; try again when that is done")]
    Busy { name: String, doing: &'static str },
    #[error(
        "workspace '{name}' here is a superseded copy (epoch {held}); node '{owner}' owns it at epoch {epoch}"
    )]
    Superseded {
        name: String,
        held: u64,
        owner: String,
        epoch: u64,
    },
    #[error("workspace '{name}' here is not a superseded copy; remove it with `roam rm {name}`")]
    NotSuperseded { name: String },
    #[error(
        "request for workspace '{name}' carries epoch {seen}, but this node holds epoch {held}; locate it again"
    )]
    StaleEpoch { name: String, seen: u64, held: u64 },
    #[error("cannot save workspace state: {0}")]
    Store(#[from] crate::persist::PersistError),
    #[error("cannot start terminal: {0}")]
    Pty(String),
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    #[error(transparent)]
    Holder(#[from] roam_holder::client::ClientError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ActorError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ActorError::Git(e) => git_kind(e),
            ActorError::NameInUse { .. } | ActorError::BranchExists { .. } => ErrorKind::Conflict,
            ActorError::NoSuchWorkspace { .. }
            | ActorError::NoSuchAgent { .. }
            | ActorError::NoAgents { .. }
            | ActorError::UnknownProfile { .. }
            | ActorError::ProgramMissing { .. } => ErrorKind::NotFound,
            ActorError::UnsavedWork { .. }
            | ActorError::AgentNotRunning { .. }
            | ActorError::NotSuperseded { .. } => ErrorKind::Refused,
            ActorError::Busy { .. } => ErrorKind::Busy,
            ActorError::Superseded { .. } | ActorError::StaleEpoch { .. } => ErrorKind::Stale,
            ActorError::Remote(e) => e.kind(),
            ActorError::Store(_)
            | ActorError::Pty(_)
            | ActorError::Holder(_)
            | ActorError::Internal(_) => ErrorKind::Internal,
        }
    }
}

pub fn git_kind(e: &GitError) -> ErrorKind {
    match e {
        GitError::NotARepo { .. }
        | GitError::NotAWorktree { .. }
        | GitError::BadRef { .. }
        | GitError::BranchNotFound { .. } => ErrorKind::NotFound,
        GitError::InvalidName { .. } | GitError::NoCommits { .. } => ErrorKind::InvalidInput,
        GitError::BranchExists { .. } | GitError::PathExists { .. } => ErrorKind::Conflict,
        GitError::OperationInProgress { .. } => ErrorKind::Refused,
        GitError::GitFailed { .. }
        | GitError::UnexpectedOutput { .. }
        | GitError::Spawn { .. }
        | GitError::NotASnapshot { .. }
        | GitError::Io { .. } => ErrorKind::Internal,
    }
}

impl<T> From<ractor::RactorErr<T>> for ActorError {
    fn from(e: ractor::RactorErr<T>) -> Self {
        ActorError::Internal(format!("actor unavailable: {e}"))
    }
}

impl<T> From<ractor::MessagingErr<T>> for ActorError {
    fn from(e: ractor::MessagingErr<T>) -> Self {
        ActorError::Internal(format!("actor unavailable: {e}"))
    }
}

impl From<tokio::task::JoinError> for ActorError {
    fn from(e: tokio::task::JoinError) -> Self {
        ActorError::Internal(format!("background task failed: {e}"))
    }
}
