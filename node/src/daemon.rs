//! `roam node run`: bring a node up, serve until asked to stop, go down
//! without losing anything.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::Actor;
use roam_actors::Runtime;
use roam_actors::node::NodeActor;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::config::DEFAULT_PORT;
use crate::control;
use crate::paths::Paths;
use crate::peers::Peers;
use crate::shared::{Origin, Shared};
use crate::store::Store;
use roam_actors::model::Owner;
use roam_actors::profile::Profile;

/// How long a graceful stop may take before the node exits anyway.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    DataDir(#[from] crate::data_dir::DataDirError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("a node is already running with data dir {path} (pid {pid})")]
    AlreadyRunning { path: String, pid: u32 },
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot start the actor tree: {0}")]
    Actors(String),
    #[error(transparent)]
    Identity(#[from] roam_mesh::identity::IdentityError),
    #[error(transparent)]
    Mesh(#[from] roam_mesh::MeshError),
    #[error("bad listen address '{addr}' in config: {message}")]
    ListenAddr { addr: String, message: String },
    #[error("bad node name {name:?} (from --name, the config or the hostname): {reason}")]
    BadName {
        name: String,
        reason: roam_mesh::roster::NameError,
    },
}

pub struct NodeOptions {
    pub paths: Paths,
    /// Overrides the config's node name.
    pub name: Option<String>,
    /// `Some(false)` turns mDNS off whatever the config says.
    pub mdns: Option<bool>,
    /// The holder binary; `None` is `roam-holder` beside this binary, or
    /// on PATH.
    pub holder_exe: Option<std::path::PathBuf>,
}

pub async fn run(opts: NodeOptions) -> Result<(), NodeError> {
    let paths = opts.paths;
    crate::data_dir::prepare(&paths)?;
    let config = Config::load(&paths.config())?;
    if let Ok(mut client) = crate::client::Client::connect(&paths).await
        && let Ok(pid) = client.ping().await
    {
        return Err(NodeError::AlreadyRunning {
            path: paths.home.display().to_string(),
            pid,
        });
    }
    let keypair = roam_mesh::identity::load_or_create(&paths.identity())?;
    let me = Owner {
        peer: keypair.public().to_peer_id().to_string(),
        node: opts
            .name
            .or_else(|| config.node.name.clone())
            .unwrap_or_else(hostname),
    };
    let name = me.node.clone();
    roam_mesh::roster::check_node_name(&name).map_err(|reason| NodeError::BadName {
        name: name.clone(),
        reason,
    })?;
    let store = Arc::new(Store::open(&paths.store(), &me.peer)?);
    let records = store.all();
    // The store is ours (sled holds its lock), so no other node runs these
    // agents: whatever a crashed run left is ended before any starts again.
    let run_dir = paths.run();
    let ended = tokio::task::spawn_blocking(move || {
        roam_actors::leftover::end_left_over(&run_dir, roam_actors::pty::KILL_GRACE)
    })
    .await
    .unwrap_or(0);
    if ended > 0 {
        tracing::warn!(
            sessions = ended,
            "ended agents a previous run of the node left running"
        );
    }
    let profiles = config
        .profiles()
        .map_err(crate::config::ConfigError::from)?;
    let hosts = Arc::new(crate::hosts::Hosts::new(
        store.clone(),
        agent_programs(&profiles),
    ));
    let roam_exe = std::env::current_exe()
        .map_err(|e| NodeError::Actors(format!("cannot find the roam binary: {e}")))?;
    // Installed beside `roam` (cargo install, the packages, the image), or
    // else on PATH; where neither has it, an agent's start says so.
    let holder_exe = match opts.holder_exe.clone() {
        Some(exe) => exe,
        None => {
            let beside = roam_exe.with_file_name("roam-holder");
            tokio::task::spawn_blocking(move || match beside.exists() {
                true => beside,
                false => roam_actors::profile::find_program("roam-holder").unwrap_or(beside),
            })
            .await
            .map_err(|e| NodeError::Actors(format!("cannot look for roam-holder: {e}")))?
        }
    };
    let rt = Arc::new(Runtime {
        node: me.clone(),
        worktrees_dir: paths.worktrees(),
        scrollback_dir: paths.scrollback(),
        run_dir: paths.run(),
        holder_exe,
        keep_agents: Default::default(),
        profiles: profiles.clone(),
        default_profile: config.node.default_agent.clone(),
        scrollback_bytes: config.terminal.scrollback_bytes,
        home: std::env::var_os("HOME")
            .map(Into::into)
            .unwrap_or_else(|| "/".into()),
        store: store.clone(),
        remote: Arc::new(crate::remote::HostOps {
            hosts: hosts.clone(),
            data_dir: paths.home.clone(),
            roam_exe: roam_exe.clone(),
        }),
        roam_exe,
        data_dir: paths.home.clone(),
    });
    tracing::info!(node = %name, home = %paths.home.display(), workspaces = records.len(), "node starting");
    // Bound before any agent process exists: the umask that makes the
    // socket 0600 from its first moment is process-wide.
    let socket = paths.socket();
    let listener = bind_private(&socket)?;
    let (peers, connects) = start_mesh(keypair, &config, opts.mdns, &name, store.clone()).await?;
    // Before any agent runs: a member may own one of these at a newer epoch.
    // Members' control streams are answered from the start (by `startup`
    // until the actor tree is up), so two nodes starting together fence
    // each other too.
    let startup = Arc::new(crate::startup::Startup::new(records, store.clone()));
    let ready: Arc<std::sync::OnceLock<Arc<Shared>>> = Arc::default();
    {
        let (ready, startup) = (ready.clone(), startup.clone());
        peers
            .accept(move |peer, stream| {
                let (ready, startup) = (ready.clone(), startup.clone());
                async move {
                    match ready.get().cloned() {
                        Some(shared) => {
                            control::serve_connection(stream, shared, Origin::Peer(peer)).await
                        }
                        None => crate::startup::serve(stream, startup).await,
                    }
                }
            })
            .map_err(|e| NodeError::Actors(e.to_string()))?;
    }
    crate::startup::check(&peers, &startup).await;
    let records = startup.finish().await;
    // Fenced now: holders of workspaces that are gone, superseded or
    // stopped are ended before any agent starts; the rest are adopted.
    roam_actors::holders::sweep(&rt, &records).await;
    let (node, node_handle) = Actor::spawn(None, NodeActor { rt: rt.clone() }, records)
        .await
        .map_err(|e| NodeError::Actors(e.to_string()))?;

    let _ = std::fs::write(paths.pid_file(), std::process::id().to_string());

    let (shutdown, mut shutdown_rx) = tokio::sync::watch::channel(None);
    let shared = Arc::new(Shared {
        node: node.clone(),
        me,
        data_dir: paths.home.display().to_string(),
        started: Instant::now(),
        shutdown,
        peers: peers.clone(),
        inputs: Default::default(),
        hosts,
        names: Default::default(),
        located: Default::default(),
    });
    let _ = ready.set(shared.clone());
    // Every member connected now, and whoever (re)connects later, hears
    // which workspaces we own and at which epoch, so an older copy on
    // either side is superseded.
    tokio::spawn(crate::ownership::follow(shared.clone(), connects));
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| NodeError::Actors(e.to_string()))?;
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| NodeError::Actors(e.to_string()))?;
    // `roam down --keep-agents` in any release's words: what a new roam
    // sends a node of the protocol before it, and what systemd's stop sends.
    let mut sigusr2 =
        signal(SignalKind::user_defined2()).map_err(|e| NodeError::Actors(e.to_string()))?;
    let mut keep_agents = false;
    tracing::info!(node = %name, socket = %socket.display(), "node ready");
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if same_user(&stream) => {
                    tokio::spawn(control::serve_connection(stream, shared.clone(), Origin::Local));
                }
                Ok(_) => tracing::warn!("refused a control connection from another user"),
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            _ = shutdown_rx.changed() => {
                keep_agents = *shutdown_rx.borrow() == Some(true);
                break;
            }
            _ = sigusr2.recv() => {
                keep_agents = true;
                break;
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
    }
    tracing::info!(node = %name, "node stopping");
    peers.mesh.shutdown().await;
    drop(listener);
    let _ = std::fs::remove_file(&socket);
    // Stopping the root stops the tree bottom-up: every terminal saves its
    // scrollback and ends its agent before its parent is gone.
    if keep_agents {
        tracing::info!(node = %name, "agents stay running in their holders for the next node");
        rt.keep_agents
            .store(true, std::sync::atomic::Ordering::Release);
    }
    node.stop(Some("node stopping".into()));
    if tokio::time::timeout(STOP_TIMEOUT, node_handle)
        .await
        .is_err()
    {
        tracing::warn!("actors did not stop in time");
    }
    store.flush().await?;
    let _ = std::fs::remove_file(paths.pid_file());
    tracing::info!(node = %name, "node stopped");
    Ok(())
}

/// Loads the identity and the roster and starts the swarm. If the default
/// port is taken (a second node on this machine), any free port will do.
/// Also returns the members' connections as they come, subscribed before
/// the first can be missed.
async fn start_mesh(
    keypair: roam_mesh::Keypair,
    config: &Config,
    mdns: Option<bool>,
    name: &str,
    store: Arc<Store>,
) -> Result<
    (
        Arc<Peers>,
        tokio::sync::broadcast::Receiver<roam_mesh::PeerId>,
    ),
    NodeError,
> {
    let (roster, loaded) = roam_mesh::roster::Roster::from_stored(&keypair, store.roster());
    for refused in &loaded.refused {
        tracing::warn!(reason = %refused, "stored roster entry refused");
    }
    // Entries from before the roster was signed now carry our vouch.
    store
        .save_roster(&roster.members().cloned().collect::<Vec<_>>())
        .await?;
    let members: Vec<_> = roster
        .active()
        .filter_map(|m| {
            let peer = m.peer.parse().ok()?;
            Some((
                peer,
                m.addrs.iter().filter_map(|a| a.parse().ok()).collect(),
            ))
        })
        .collect();
    let parse = |addrs: &[String]| -> Result<Vec<roam_mesh::Multiaddr>, NodeError> {
        addrs
            .iter()
            .map(|a| {
                a.parse().map_err(
                    |e: roam_mesh::swarm::MultiaddrError| NodeError::ListenAddr {
                        addr: a.clone(),
                        message: e.to_string(),
                    },
                )
            })
            .collect()
    };
    let make = |listen| roam_mesh::MeshConfig {
        keypair: keypair.clone(),
        listen,
        mdns: mdns.unwrap_or(config.mesh.mdns),
        members: members.clone(),
    };
    let listen = parse(&config.mesh.listen)?;
    let started = match roam_mesh::Mesh::start(make(listen)).await {
        Err(roam_mesh::MeshError::Listen { .. })
            if config.mesh.listen == crate::config::MeshConfig::default().listen =>
        {
            let any_port: Vec<String> = config
                .mesh
                .listen
                .iter()
                .map(|a| a.replace(&format!("/{DEFAULT_PORT}"), "/0"))
                .collect();
            tracing::warn!(
                port = DEFAULT_PORT,
                "default mesh port taken; listening on a free port"
            );
            roam_mesh::Mesh::start(make(parse(&any_port)?)).await?
        }
        other => other?,
    };
    let (mesh, events) = started;
    tracing::info!(peer = %mesh.local_peer_id(), "mesh identity");
    let window = std::time::Duration::from_secs(config.mesh.pairing_window_secs);
    let peers = Peers::new(mesh, name.to_string(), keypair, window, store, roster);
    let connects = peers.member_connected();
    peers.follow(events);
    Ok((peers, connects))
}

/// Binds the control socket with mode 0600 from the start (umask 0177
/// around `bind`; chmod after bind would leave a moment open to anyone).
fn bind_private(socket: &Path) -> Result<UnixListener, NodeError> {
    use nix::sys::stat::{Mode, umask};
    let _ = std::fs::remove_file(socket);
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(socket);
    umask(old);
    bound.map_err(|source| NodeError::Listen {
        path: socket.display().to_string(),
        source,
    })
}

/// Whether the process at the other end of the socket runs as this user
/// (`SO_PEERCRED`): the socket's mode is not the only lock.
fn same_user(stream: &tokio::net::UnixStream) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    stream.peer_cred().is_ok_and(|cred| cred.uid() == me)
}

/// The bare program names of every profile (`claude`, `codex`…): what a
/// host checklist looks for. Paths are local to this machine; skipped.
fn agent_programs(profiles: &BTreeMap<String, Profile>) -> Vec<String> {
    let mut programs: Vec<String> = profiles
        .values()
        .map(|p| p.program().to_string())
        .filter(|p| {
            !p.is_empty()
                && !p.contains('/')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .collect();
    programs.sort();
    programs.dedup();
    programs
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}
