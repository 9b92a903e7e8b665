//! Pairing on a LAN with mDNS: two nodes in two network namespaces joined
//! by a veth pair, and `roam join CODE` with no address. Needs root and
//! iproute2; without them the test says so and does nothing.

use std::process::Command;

use crate::harness::{ROAM, TestNode, pairing_code, wait_until};

/// Two namespaces with a link between them, removed on drop.
struct Lan {
    names: [String; 2],
}

impl Lan {
    fn new() -> Option<Lan> {
        let root = nix_is_root();
        let ip = Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !root || !ip {
            println!("skipped: network namespaces need root and iproute2");
            return None;
        }
        let id = std::process::id();
        let names = [format!("roam{id}a"), format!("roam{id}b")];
        let (va, vb) = (format!("rv{id}a"), format!("rv{id}b"));
        let lan = Lan {
            names: names.clone(),
        };
        let steps: Vec<Vec<String>> = vec![
            vec!["netns", "add", &names[0]],
            vec!["netns", "add", &names[1]],
            vec!["link", "add", &va, "type", "veth", "peer", "name", &vb],
            vec!["link", "set", &va, "netns", &names[0]],
            vec!["link", "set", &vb, "netns", &names[1]],
            vec!["-n", &names[0], "addr", "add", "10.231.0.1/24", "dev", &va],
            vec!["-n", &names[1], "addr", "add", "10.231.0.2/24", "dev", &vb],
            vec!["-n", &names[0], "link", "set", &va, "up"],
            vec!["-n", &names[1], "link", "set", &vb, "up"],
            vec!["-n", &names[0], "link", "set", "lo", "up"],
            vec!["-n", &names[1], "link", "set", "lo", "up"],
        ]
        .into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect();
        for step in steps {
            let out = Command::new("ip").args(&step).output().unwrap();
            if !out.status.success() {
                println!(
                    "skipped: cannot make network namespaces: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return None;
            }
        }
        Some(lan)
    }

    /// Starts `node` inside namespace `i`, listening on every interface.
    fn start(&self, i: usize, node: &TestNode) {
        let config = std::fs::read_to_string(node.home.join("config.toml")).unwrap();
        let config = config
            .replace(
                r#"listen = ["/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"]"#,
                r#"listen = ["/ip4/0.0.0.0/udp/0/quic-v1"]"#,
            )
            .replace("mdns = false", "mdns = true");
        std::fs::write(node.home.join("config.toml"), config).unwrap();
        let out = Command::new("ip")
            .args(["netns", "exec", &self.names[i], ROAM, "up"])
            .env("ROAM_HOME", &node.home)
            .env("HOME", &node.user_home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn join_without_an_address_finds_the_host_on_the_lan() {
    let Some(lan) = Lan::new() else { return };
    let a = TestNode::named("alpha");
    let b = TestNode::named("bravo");
    lan.start(0, &a);
    lan.start(1, &b);
    let (code, _) = pairing_code(&a);
    let joined = b.ok(&["join", &code]);
    assert!(joined.contains("joined the mesh of node alpha"), "{joined}");
    wait_until("alpha sees bravo online", || {
        let v: serde_json::Value = serde_json::from_str(&a.ok(&["nodes", "--json"])).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "bravo" && n["online"] == true)
    });
    // Nodes are stopped (through their sockets) before the namespaces go.
    a.ok(&["down"]);
    b.ok(&["down"]);
}
