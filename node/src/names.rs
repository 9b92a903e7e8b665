//! Mesh-wide workspace names: the holds a node keeps while some node of
//! the mesh makes a workspace, so two creations of one name cannot both
//! succeed.
//!
//! A creator asks every reachable member, itself included, in PeerId order,
//! to hold the name for its new workspace id (`Request::Reserve`); a member
//! refuses if it has a workspace of that name or holds the name for another
//! id. Asking in one global order means two creators always meet at the
//! first member they share, and only one gets past it (ordered lock
//! acquisition: no deadlock, exactly one winner). Holds expire, so a
//! creator that died never blocks a name for long; once made, the workspace
//! itself refuses the name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::lock::lock;

/// How long a hold lasts unless renewed: a creator renews its holds while
/// it makes the workspace; once made, the workspace answers for its name.
pub const HOLD: Duration = Duration::from_secs(120);

/// The longest node name a reservation may carry.
pub const MAX_NODE_NAME: usize = 64;

/// Bounded: at most this many names held at once (a peer cannot grow it
/// without bound).
const MAX_HOLDS: usize = 1024;

struct Hold {
    id: String,
    /// The creating node's name, for the refusal message.
    by: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Names {
    holds: Mutex<HashMap<String, Hold>>,
}

/// Who holds a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBy {
    pub node: String,
}

impl Names {
    /// Holds `name` for `id` (again, for the same id); refuses if another
    /// id holds it.
    pub fn reserve(&self, name: &str, id: &str, by: &str) -> Result<(), HeldBy> {
        let mut holds = lock(&self.holds);
        let now = Instant::now();
        holds.retain(|_, h| h.expires > now);
        if let Some(h) = holds.get(name)
            && h.id != id
        {
            return Err(HeldBy { node: h.by.clone() });
        }
        if holds.len() >= MAX_HOLDS && !holds.contains_key(name) {
            return Err(HeldBy {
                node: "(too many creations at once)".into(),
            });
        }
        holds.insert(
            name.to_string(),
            Hold {
                id: id.to_string(),
                by: by.to_string(),
                expires: now + HOLD,
            },
        );
        Ok(())
    }

    /// Lets go of `name` if `id` holds it.
    pub fn release(&self, name: &str, id: &str) {
        let mut holds = lock(&self.holds);
        if holds.get(name).is_some_and(|h| h.id == id) {
            holds.remove(name);
        }
    }
}

/// Whether `id` looks like one `new_id` makes.
pub fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A new mesh-wide workspace id: 128 random bits in hex.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_name_is_held_for_one_id_at_a_time() {
        let names = Names::default();
        assert!(names.reserve("x", "id1", "alpha").is_ok());
        assert!(names.reserve("x", "id1", "alpha").is_ok());
        assert_eq!(
            names.reserve("x", "id2", "bravo"),
            Err(HeldBy {
                node: "alpha".into()
            })
        );
        names.release("x", "id2");
        assert!(names.reserve("x", "id2", "bravo").is_err());
        names.release("x", "id1");
        assert!(names.reserve("x", "id2", "bravo").is_ok());
    }

    /// Caught a poisoned lock read as "no holds": a name held by one
    /// creation was then handed to a second after any panic.
    #[test]
    fn a_hold_survives_a_panic_while_the_lock_was_held() {
        let names = std::sync::Arc::new(Names::default());
        names.reserve("x", "first", "alpha").unwrap();
        let poisoner = names.clone();
        let _ = std::thread::spawn(move || {
            let _held = poisoner.holds.lock().unwrap();
            panic!("a holder panics");
        })
        .join();
        assert!(names.holds.is_poisoned());
        assert_eq!(
            names.reserve("x", "second", "bravo"),
            Err(HeldBy {
                node: "alpha".into()
            })
        );
        names.release("x", "first");
        assert!(names.reserve("x", "second", "bravo").is_ok());
    }
}
