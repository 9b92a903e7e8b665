//! The roster: the PeerIds allowed in the mesh, with their names and last
//! known addresses. Plain data; the node stores it and spreads it.
//!
//! - **Vouching.** Every entry carries the signed word of the members that
//!   vouched for it: an ed25519 signature, by the voucher's own key (its
//!   PeerId embeds it), over the entry's PeerId and name. Pairing makes two
//!   vouches, each side for the other; every node also vouches for itself,
//!   which binds its name to its key. A signature that does not verify is
//!   dropped where it enters, so no member can speak for another.
//! - **Trust is reachability.** A member is in the mesh (`active`) when a
//!   chain of vouches leads to it from this node, through members that are
//!   themselves in. A key a member planted is in only while that member is:
//!   unpairing the member takes away what only it vouched for, on every
//!   node, with nothing more to spread than the one tombstone.
//! - **Tombstones.** Merging is a grow-only set with tombstones: a removed
//!   peer stays removed whatever an out-of-date member later says, so a node
//!   that missed an `unpair` cannot bring the removed node back.
//! - **Bounded where it enters.** An entry is refused, with its reason, if
//!   its PeerId is not an ed25519 key, its name is not a node name, or it
//!   has too many addresses or vouches; the roster holds at most
//!   [`MAX_MEMBERS`] entries.

use std::collections::{BTreeMap, BTreeSet};

use bincode::{Decode, Encode};
use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};

/// Addresses kept per member; newest first.
pub const MAX_ADDRS: usize = 8;
/// The longest address kept, in bytes (a multiaddr with a PeerId is ~100).
pub const MAX_ADDR_LEN: usize = 256;
/// Vouches kept per member.
pub const MAX_VOUCHES: usize = 16;
/// Entries a roster holds, tombstones included: one person's machines.
pub const MAX_MEMBERS: usize = 1024;
/// The longest node name, in bytes.
pub const MAX_NODE_NAME: usize = 64;

/// What a vouch signs: a domain tag, then the PeerId and the name, each
/// with its length, so no two (peer, name) pairs sign the same bytes.
const VOUCH_DOMAIN: &[u8] = b"roam roster vouch v1";

#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Member {
    /// PeerId in its usual base58 text form.
    pub peer: String,
    pub name: String,
    pub addrs: Vec<String>,
    pub removed: bool,
    /// Who says this member is in, and under this name.
    pub vouches: Vec<Vouch>,
}

/// One member's signed word that `peer` is in the mesh under `name`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Vouch {
    /// The voucher's PeerId.
    pub by: String,
    pub signature: Vec<u8>,
}

/// Why an entry was not taken into the roster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("'{peer}' is not an ed25519 PeerId")]
    BadPeerId { peer: String },
    #[error("bad node name for {peer}: {reason}")]
    BadName { peer: String, reason: NameError },
    #[error("{peer} lists {count} addresses (at most {MAX_ADDRS})")]
    TooManyAddrs { peer: String, count: usize },
    #[error("{peer} has an address that is not a multiaddr of at most {MAX_ADDR_LEN} bytes")]
    BadAddr { peer: String },
    #[error("{peer} carries {count} vouches (at most {MAX_VOUCHES})")]
    TooManyVouches { peer: String, count: usize },
    #[error("{peer} is vouched for by no signature that verifies")]
    Unvouched { peer: String },
    #[error("the roster is full ({MAX_MEMBERS} entries); {peer} was not added")]
    Full { peer: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a node name is 1 to {MAX_NODE_NAME} bytes")]
    Length,
    #[error("a node name has no spaces or control characters")]
    Character,
}

/// Checks a node name: what `roam nodes`, `roam ls` and every prompt show.
pub fn check_node_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() || name.len() > MAX_NODE_NAME {
        return Err(NameError::Length);
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(NameError::Character);
    }
    Ok(())
}

/// The ed25519 key a PeerId embeds (identity multihash), if it does.
fn public_key(peer: &str) -> Option<PublicKey> {
    let peer: PeerId = peer.parse().ok()?;
    let hash = peer.as_ref();
    // 0x00 is the identity multihash: the digest is the key itself.
    if hash.code() != 0 {
        return None;
    }
    let key = PublicKey::try_decode_protobuf(hash.digest()).ok()?;
    key.clone().try_into_ed25519().ok()?;
    Some(key)
}

fn vouch_bytes(peer: &str, name: &str) -> Vec<u8> {
    let mut bytes = VOUCH_DOMAIN.to_vec();
    for part in [peer, name] {
        bytes.extend_from_slice(&(part.len() as u32).to_be_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

impl Vouch {
    /// `keypair`'s vouch for `peer` under `name`.
    pub fn sign(keypair: &Keypair, peer: &str, name: &str) -> Vouch {
        Vouch {
            by: keypair.public().to_peer_id().to_string(),
            // An ed25519 key (the only kind a node has) signs infallibly.
            signature: keypair.sign(&vouch_bytes(peer, name)).unwrap_or_default(),
        }
    }

    /// Whether this is `by`'s signature over `peer` and `name`.
    pub fn verifies(&self, peer: &str, name: &str) -> bool {
        public_key(&self.by)
            .is_some_and(|key| key.verify(&vouch_bytes(peer, name), &self.signature))
    }
}

impl Member {
    /// Checks what a member must be to enter, and keeps only the vouches
    /// that verify (one per voucher).
    fn checked(mut self) -> Result<Member, Refused> {
        let peer = self.peer.clone();
        if public_key(&self.peer).is_none() {
            return Err(Refused::BadPeerId { peer });
        }
        check_node_name(&self.name).map_err(|reason| Refused::BadName {
            peer: peer.clone(),
            reason,
        })?;
        if self.addrs.len() > MAX_ADDRS {
            return Err(Refused::TooManyAddrs {
                peer,
                count: self.addrs.len(),
            });
        }
        if self
            .addrs
            .iter()
            .any(|a| a.len() > MAX_ADDR_LEN || a.parse::<libp2p::Multiaddr>().is_err())
        {
            return Err(Refused::BadAddr { peer });
        }
        if self.vouches.len() > MAX_VOUCHES {
            return Err(Refused::TooManyVouches {
                peer,
                count: self.vouches.len(),
            });
        }
        let mut seen = BTreeSet::new();
        let (peer_text, name) = (self.peer.clone(), self.name.clone());
        self.vouches
            .retain(|v| v.verifies(&peer_text, &name) && seen.insert(v.by.clone()));
        Ok(self)
    }
}

/// What one merge did.
#[derive(Debug, Default)]
pub struct Merged {
    pub changed: bool,
    /// Entries not taken, with why.
    pub refused: Vec<Refused>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    /// This node's PeerId: where every chain of trust starts.
    me: String,
    members: BTreeMap<String, Member>,
    /// Members a chain of vouches reaches from `me` (kept with the data).
    trusted: BTreeSet<String>,
}

impl Roster {
    /// An empty roster of node `me`.
    pub fn new(me: &str) -> Roster {
        Roster {
            me: me.to_string(),
            members: BTreeMap::new(),
            trusted: BTreeSet::new(),
        }
    }

    /// The roster of the node whose key is `keypair`, from the entries it
    /// stored. An entry stored before the roster was signed has no vouch at
    /// all; this node admitted it then, so it vouches for it now. An entry
    /// that fails today's checks is left out (the caller logs `refused`).
    pub fn from_stored(
        keypair: &Keypair,
        members: impl IntoIterator<Item = Member>,
    ) -> (Roster, Merged) {
        let mut r = Roster::new(&keypair.public().to_peer_id().to_string());
        let members = members.into_iter().map(|mut m| {
            if !m.removed && m.vouches.is_empty() {
                m.vouches.push(Vouch::sign(keypair, &m.peer, &m.name));
            }
            m
        });
        let merged = r.merge(members);
        (r, merged)
    }

    /// Every entry, tombstones and members no chain reaches included: what
    /// is stored and spread.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// Members in the mesh: not removed, and vouched for by a chain from
    /// this node.
    pub fn active(&self) -> impl Iterator<Item = &Member> {
        self.members
            .values()
            .filter(|m| !m.removed && self.trusted.contains(&m.peer))
    }

    pub fn is_active(&self, peer: &str) -> bool {
        self.get(peer).is_some()
    }

    pub fn get(&self, peer: &str) -> Option<&Member> {
        self.members
            .get(peer)
            .filter(|m| !m.removed && self.trusted.contains(&m.peer))
    }

    pub fn by_name(&self, name: &str) -> Option<&Member> {
        self.active().find(|m| m.name == name)
    }

    pub fn is_removed(&self, peer: &str) -> bool {
        self.members.get(peer).is_some_and(|m| m.removed)
    }

    /// Folds `incoming` in: new entries (each checked, with a vouch that
    /// verifies), tombstones, addresses and vouches. A name never changes:
    /// a vouch for another name than the one held does not verify.
    pub fn merge(&mut self, incoming: impl IntoIterator<Item = Member>) -> Merged {
        let mut merged = Merged::default();
        for m in incoming {
            let peer = m.peer.clone();
            if let Some(have) = self.members.get_mut(&peer) {
                // Checked under the name held, not the one offered.
                let offered = Member {
                    name: have.name.clone(),
                    ..m
                };
                match offered.checked() {
                    Ok(m) => merged.changed |= fold(have, m),
                    Err(e) => merged.refused.push(e),
                }
                continue;
            }
            let m = match m.checked() {
                Ok(m) => m,
                Err(e) => {
                    merged.refused.push(e);
                    continue;
                }
            };
            if m.vouches.is_empty() && !m.removed && m.peer != self.me {
                merged.refused.push(Refused::Unvouched { peer });
                continue;
            }
            if self.members.len() >= MAX_MEMBERS {
                merged.refused.push(Refused::Full { peer });
                continue;
            }
            self.members.insert(peer, m);
            merged.changed = true;
        }
        if merged.changed {
            self.retrust();
        }
        merged
    }

    /// Marks a member removed for good. Returns the names of the members
    /// that were in only through it (and so are out with it).
    pub fn remove(&mut self, peer: &str) -> Option<Vec<String>> {
        let before: BTreeSet<String> = self.trusted.clone();
        match self.members.get_mut(peer) {
            Some(m) if !m.removed => {
                m.removed = true;
                m.addrs.clear();
            }
            _ => return None,
        }
        self.retrust();
        Some(
            before
                .difference(&self.trusted)
                .filter(|p| p.as_str() != peer)
                .filter_map(|p| self.members.get(p).map(|m| m.name.clone()))
                .collect(),
        )
    }

    /// Records an address a member was seen at.
    pub fn note_addr(&mut self, peer: &str, addr: &str) -> bool {
        if addr.len() > MAX_ADDR_LEN {
            return false;
        }
        match self.members.get_mut(peer) {
            Some(m) if !m.removed && !m.addrs.iter().any(|a| a == addr) => {
                m.addrs.insert(0, addr.to_string());
                m.addrs.truncate(MAX_ADDRS);
                true
            }
            _ => false,
        }
    }

    /// Adds `keypair`'s vouch to `peer`'s entry (the host a joiner paired
    /// with). Returns whether the entry was there.
    pub fn vouch(&mut self, keypair: &Keypair, peer: &str) -> bool {
        let Some(m) = self.members.get_mut(peer) else {
            return false;
        };
        let vouch = Vouch::sign(keypair, &m.peer, &m.name);
        if !m.vouches.iter().any(|v| v.by == vouch.by) && m.vouches.len() < MAX_VOUCHES {
            m.vouches.push(vouch);
        }
        self.retrust();
        true
    }

    /// Recomputes who a chain of vouches reaches from this node, through
    /// members that are not removed.
    fn retrust(&mut self) {
        let mut trusted = BTreeSet::from([self.me.clone()]);
        loop {
            let reached: Vec<String> = self
                .members
                .values()
                .filter(|m| !m.removed && !trusted.contains(&m.peer))
                .filter(|m| m.vouches.iter().any(|v| trusted.contains(&v.by)))
                .map(|m| m.peer.clone())
                .collect();
            if reached.is_empty() {
                break;
            }
            trusted.extend(reached);
        }
        self.trusted = trusted;
    }
}

/// Folds a checked entry into the one held; returns whether it changed.
fn fold(have: &mut Member, m: Member) -> bool {
    let mut changed = false;
    if m.removed && !have.removed {
        have.removed = true;
        have.addrs.clear();
        changed = true;
    }
    if !have.removed {
        for a in m.addrs {
            if !have.addrs.contains(&a) {
                have.addrs.insert(0, a);
                have.addrs.truncate(MAX_ADDRS);
                changed = true;
            }
        }
    }
    for v in m.vouches {
        if have.vouches.len() < MAX_VOUCHES && !have.vouches.iter().any(|h| h.by == v.by) {
            have.vouches.push(v);
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Node {
        key: Keypair,
        name: &'static str,
    }

    impl Node {
        fn new(name: &'static str) -> Node {
            Node {
                key: Keypair::generate_ed25519(),
                name,
            }
        }
        fn peer(&self) -> String {
            self.key.public().to_peer_id().to_string()
        }
        /// This node's entry as vouched for by `by` (and itself).
        fn entry(&self, by: &[&Node]) -> Member {
            let mut vouches = vec![Vouch::sign(&self.key, &self.peer(), self.name)];
            vouches.extend(
                by.iter()
                    .map(|b| Vouch::sign(&b.key, &self.peer(), self.name)),
            );
            Member {
                peer: self.peer(),
                name: self.name.into(),
                addrs: vec![],
                removed: false,
                vouches,
            }
        }
    }

    fn names(r: &Roster) -> Vec<String> {
        r.active()
            .map(|m| m.name.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    #[test]
    fn a_removed_member_stays_removed_whatever_old_news_arrives() {
        let (me, laptop) = (Node::new("me"), Node::new("laptop"));
        let mut r = Roster::new(&me.peer());
        r.merge([laptop.entry(&[&me])]);
        assert!(r.remove(&laptop.peer()).is_some());
        assert!(!r.merge([laptop.entry(&[&me])]).changed);
        assert!(r.get(&laptop.peer()).is_none());
        assert!(r.is_removed(&laptop.peer()));
    }

    #[test]
    fn unpairing_a_member_removes_the_keys_only_it_vouched_for() {
        let (me, laptop, homelab) = (Node::new("me"), Node::new("laptop"), Node::new("homelab"));
        let planted = Node::new("planted");
        let phone = Node::new("phone");
        let mut r = Roster::new(&me.peer());
        r.merge([
            laptop.entry(&[&me]),
            homelab.entry(&[&me]),
            planted.entry(&[&laptop]),
            // Vouched for by the laptop and by homelab: stays.
            phone.entry(&[&laptop, &homelab]),
        ]);
        assert_eq!(names(&r), ["homelab", "laptop", "phone", "planted"]);
        let gone = r.remove(&laptop.peer()).expect("laptop was a member");
        assert_eq!(gone, ["planted"]);
        assert_eq!(names(&r), ["homelab", "phone"]);
        // The planted key is still held (and spread), but admits nothing,
        // whatever the removed laptop's vouches say later.
        assert!(!r.merge([planted.entry(&[&laptop])]).changed);
        assert!(r.get(&planted.peer()).is_none());
    }

    #[test]
    fn a_vouch_that_does_not_verify_is_dropped_where_it_enters() {
        let (me, laptop, stranger) = (Node::new("me"), Node::new("laptop"), Node::new("x"));
        let mut r = Roster::new(&me.peer());
        r.merge([laptop.entry(&[&me])]);
        // A member claims `me` vouched for a stranger: the signature is the
        // stranger's own, under `me`'s name.
        let mut forged = stranger.entry(&[]);
        forged.vouches = vec![Vouch {
            by: me.peer(),
            signature: Vouch::sign(&stranger.key, &stranger.peer(), "x").signature,
        }];
        let merged = r.merge([forged]);
        assert_eq!(
            merged.refused,
            [Refused::Unvouched {
                peer: stranger.peer()
            }]
        );
        assert!(r.get(&stranger.peer()).is_none());
    }

    #[test]
    fn a_member_cannot_rename_another() {
        let (me, laptop) = (Node::new("me"), Node::new("laptop"));
        let mut r = Roster::new(&me.peer());
        r.merge([laptop.entry(&[&me])]);
        let mut renamed = Node {
            key: laptop.key.clone(),
            name: "homelab",
        }
        .entry(&[&me]);
        renamed.addrs = vec!["/ip4/10.0.0.9/udp/4799/quic-v1".into()];
        r.merge([renamed]);
        assert_eq!(
            r.get(&laptop.peer()).map(|m| m.name.as_str()),
            Some("laptop")
        );
    }

    #[test]
    fn entries_are_bounded_where_they_enter() {
        let me = Node::new("me");
        let laptop = Node::new("laptop");
        let mut r = Roster::new(&me.peer());
        let mut many = laptop.entry(&[&me]);
        many.addrs = (0..9).map(|i| format!("/ip4/10.0.0.{i}/tcp/1")).collect();
        let mut garbage = laptop.entry(&[&me]);
        garbage.addrs = vec!["not an address".into()];
        let mut not_a_key = laptop.entry(&[&me]);
        not_a_key.peer = "12D3KooWnotakey".into();
        let bad_names = ["", "tab\there", "bell\x07", "two words", &"x".repeat(65)];
        let named = bad_names.iter().map(|n| {
            let mut m = laptop.entry(&[&me]);
            m.name = n.to_string();
            m.vouches = vec![Vouch::sign(&me.key, &laptop.peer(), n)];
            m
        });
        let merged = r.merge([many, garbage, not_a_key].into_iter().chain(named));
        assert_eq!(
            merged.refused.len(),
            3 + bad_names.len(),
            "{:?}",
            merged.refused
        );
        assert!(!merged.changed);
        assert_eq!(r.members().count(), 0);
    }

    #[test]
    fn entries_stored_before_vouching_are_vouched_for_by_this_node_and_no_others() {
        let (me, laptop) = (Node::new("me"), Node::new("laptop"));
        let mut old = laptop.entry(&[]);
        old.vouches.clear();
        let (r, merged) = Roster::from_stored(&me.key, [old.clone()]);
        assert!(merged.refused.is_empty());
        assert_eq!(names(&r), ["laptop"]);
        // Over the wire, an entry with no vouch is refused.
        let mut r = Roster::new(&me.peer());
        assert_eq!(r.merge([old]).refused.len(), 1);
        assert_eq!(r.members().count(), 0);
    }
}
