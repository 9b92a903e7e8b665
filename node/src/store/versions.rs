//! Record versions: what each stored type looked like in every release that
//! wrote it, and how an older one becomes today's.
//!
//! Every stored value is `version ++ value` (`codec::encode_versioned`),
//! except in stores of format 1 (before records were versioned), where
//! every value is a bare version-1 record. A type's old shapes are frozen
//! copies here, never the live type: changing `WorkspaceRecord` must not
//! change how an old record decodes. The `golden` test holds today's
//! encoding of each, so a change that forgets to add a version fails it.

use bincode::Decode;
use roam_actors::model::{AgentRecord, Owner, WorkspaceRecord};

/// The store's layout: 1 = bare records (before versions), 2 = versioned.
pub const STORE_FORMAT: u32 = 2;
/// Today's version of each stored type.
pub const WORKSPACE: u32 = 2;
pub const MEMBER: u32 = 2;
pub const HOST: u32 = 1;
pub const HOLDER: u32 = 1;

/// A workspace record as the release before versioning wrote it: the owner
/// was a node name, there was no id and no superseded mark.
#[derive(Decode)]
pub struct WorkspaceV1 {
    pub name: String,
    pub repo: String,
    pub base: String,
    pub branch: String,
    pub path: String,
    pub owner: String,
    pub epoch: u64,
    pub created_unix: u64,
    pub stopped: bool,
    pub agents: Vec<AgentV1>,
    pub host: Option<String>,
}

#[derive(Decode)]
pub struct AgentV1 {
    pub name: String,
    pub profile: String,
    pub prompt: Option<String>,
    pub session: Option<String>,
    pub exited: Option<i32>,
}

impl WorkspaceV1 {
    /// Every version-1 record was made by the node that stored it (nothing
    /// moved workspaces then), so its owner is this node, under the name
    /// it had. It gets its mesh-wide id now.
    pub fn upgrade(self, local_peer: &str) -> WorkspaceRecord {
        WorkspaceRecord {
            id: crate::names::new_id(),
            name: self.name,
            repo: self.repo,
            base: self.base,
            branch: self.branch,
            path: self.path,
            owner: Owner {
                peer: local_peer.to_string(),
                node: self.owner,
            },
            epoch: self.epoch,
            created_unix: self.created_unix,
            stopped: self.stopped,
            agents: self
                .agents
                .into_iter()
                .map(|a| AgentRecord {
                    name: a.name,
                    profile: a.profile,
                    prompt: a.prompt,
                    session: a.session,
                    exited: a.exited,
                })
                .collect(),
            host: self.host,
            superseded: None,
        }
    }
}

/// A roster member as version 1 stored it, before vouches. Its upgrade has
/// none: `Roster::from_stored` vouches for it with this node's key.
#[derive(Decode)]
pub struct MemberV1 {
    pub peer: String,
    pub name: String,
    pub addrs: Vec<String>,
    pub removed: bool,
}

impl MemberV1 {
    pub fn upgrade(self) -> roam_mesh::roster::Member {
        roam_mesh::roster::Member {
            peer: self.peer,
            name: self.name,
            addrs: self.addrs,
            removed: self.removed,
            vouches: Vec::new(),
        }
    }
}

/// An SSH host as version 1 stored it.
#[derive(Decode)]
pub struct HostV1 {
    pub alias: String,
    pub added_unix: u64,
    pub last_used_unix: u64,
    pub last_check_ok: bool,
}

impl HostV1 {
    pub fn upgrade(self) -> crate::hosts::HostRecord {
        crate::hosts::HostRecord {
            alias: self.alias,
            added_unix: self.added_unix,
            last_used_unix: self.last_used_unix,
            last_check_ok: self.last_check_ok,
        }
    }
}
