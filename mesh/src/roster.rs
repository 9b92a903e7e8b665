//! The roster: the PeerIds allowed in the mesh, with their names and last
//! known addresses. Plain data; the node stores it and spreads it.
//!
//! Merging is a grow-only set with tombstones: a removed peer stays removed
//! whatever an out-of-date member later says, so a node that missed an
//! `unpair` cannot bring the removed node back.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};

/// Addresses kept per member; newest first.
const MAX_ADDRS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Member {
    /// PeerId in its usual base58 text form.
    pub peer: String,
    pub name: String,
    pub addrs: Vec<String>,
    pub removed: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Roster {
    members: BTreeMap<String, Member>,
}

impl Roster {
    pub fn from_members(members: impl IntoIterator<Item = Member>) -> Roster {
        let mut r = Roster::default();
        r.merge(members);
        r
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// Members not removed.
    pub fn active(&self) -> impl Iterator<Item = &Member> {
        self.members.values().filter(|m| !m.removed)
    }

    pub fn get(&self, peer: &str) -> Option<&Member> {
        self.members.get(peer).filter(|m| !m.removed)
    }

    pub fn by_name(&self, name: &str) -> Option<&Member> {
        self.active().find(|m| m.name == name)
    }

    pub fn is_removed(&self, peer: &str) -> bool {
        self.members.get(peer).is_some_and(|m| m.removed)
    }

    /// Folds `incoming` in; returns whether anything changed.
    pub fn merge(&mut self, incoming: impl IntoIterator<Item = Member>) -> bool {
        let mut changed = false;
        for m in incoming {
            match self.members.get_mut(&m.peer) {
                None => {
                    self.members.insert(m.peer.clone(), m);
                    changed = true;
                }
                Some(have) => {
                    if m.removed && !have.removed {
                        have.removed = true;
                        changed = true;
                    }
                    for a in m.addrs {
                        if !have.addrs.contains(&a) {
                            have.addrs.insert(0, a);
                            have.addrs.truncate(MAX_ADDRS);
                            changed = true;
                        }
                    }
                }
            }
        }
        changed
    }

    /// Marks a member removed for good.
    pub fn remove(&mut self, peer: &str) -> bool {
        match self.members.get_mut(peer) {
            Some(m) if !m.removed => {
                m.removed = true;
                m.addrs.clear();
                true
            }
            _ => false,
        }
    }

    /// Records an address a member was seen at.
    pub fn note_addr(&mut self, peer: &str, addr: &str) -> bool {
        match self.members.get_mut(peer) {
            Some(m) if !m.removed && !m.addrs.iter().any(|a| a == addr) => {
                m.addrs.insert(0, addr.to_string());
                m.addrs.truncate(MAX_ADDRS);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(peer: &str, name: &str, removed: bool) -> Member {
        Member {
            peer: peer.into(),
            name: name.into(),
            addrs: vec![],
            removed,
        }
    }

    #[test]
    fn a_removed_member_stays_removed_whatever_old_news_arrives() {
        let mut r = Roster::from_members([m("p1", "laptop", false)]);
        assert!(r.remove("p1"));
        assert!(!r.merge([m("p1", "laptop", false)]));
        assert!(r.get("p1").is_none());
        assert!(r.is_removed("p1"));
    }
}
