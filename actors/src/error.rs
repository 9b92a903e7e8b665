use roam_gitsync::GitError;

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
    #[error("cannot save workspace state: {0}")]
    Store(String),
    #[error("cannot start terminal: {0}")]
    Pty(String),
    #[error("{0}")]
    Remote(String),
    #[error("internal error: {0}")]
    Internal(String),
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
