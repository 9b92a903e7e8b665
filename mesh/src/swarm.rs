//! The libp2p swarm and the handle the node drives it with.
//!
//! Transports: QUIC first, TCP + noise + yamux as fallback, DNS for names.
//! Behaviours: the roster [`Gate`], connection limits, identify, ping,
//! optional mDNS (hints only: a discovered peer is dialled, and the gate
//! decides), and `libp2p-stream` for every Roam protocol. One task owns the
//! swarm; everything else talks to it through [`Mesh`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, connection_limits, identify, mdns, noise, ping, tcp,
    yamux,
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use crate::event_queue::EventQueue;
use crate::gate::Gate;

/// The request/response protocol of the node, carried on streams.
pub const CONTROL_PROTOCOL: StreamProtocol = StreamProtocol::new("/roam/control/1");
/// The only protocol an unpaired peer may speak, while a code is open.
pub const PAIRING_PROTOCOL: StreamProtocol = StreamProtocol::new("/roam/pair/1");
/// Mesh connections carry long-lived terminal streams; the libp2p default
/// (10 s idle) would drop a quiet attach.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Often enough that a member that stopped answering is known within a
/// second or two (the node bounds its calls by the last pong), cheap
/// enough for a handful of members.
const PING_EVERY: Duration = Duration::from_millis(500);
/// Redial backoff for roster members that are not connected.
const REDIAL_MIN: Duration = Duration::from_secs(1);
const REDIAL_MAX: Duration = Duration::from_secs(60);

pub type MeshStream = Compat<libp2p::Stream>;
pub use libp2p::multiaddr::{Error as MultiaddrError, Protocol};

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("cannot start the mesh: {0}")]
    Start(String),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
    #[error("cannot reach {peer}: {message}")]
    Unreachable { peer: String, message: String },
    #[error("cannot dial {addr}: {message}")]
    Dial { addr: String, message: String },
    #[error("the mesh is shut down")]
    Stopped,
}

pub struct MeshConfig {
    pub keypair: Keypair,
    pub listen: Vec<Multiaddr>,
    pub mdns: bool,
    /// Roster members and their last known addresses.
    pub members: Vec<(PeerId, Vec<Multiaddr>)>,
}

#[derive(Clone, Debug)]
pub enum MeshEvent {
    Listening {
        addr: Multiaddr,
    },
    Connected {
        peer: PeerId,
        addr: Multiaddr,
    },
    Disconnected {
        peer: PeerId,
    },
    /// A LAN hint from mDNS; not trust.
    Discovered {
        peer: PeerId,
        addr: Multiaddr,
    },
    Rtt {
        peer: PeerId,
        rtt: Duration,
    },
    /// The addresses a connected peer says it listens on.
    Identified {
        peer: PeerId,
        listen: Vec<Multiaddr>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct MeshStatus {
    pub listen: Vec<Multiaddr>,
    pub connected: Vec<(PeerId, Multiaddr)>,
}

enum Command {
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, String>>,
    },
    Admit {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    Expel(PeerId),
    OpenPairing(Duration),
    ClosePairing,
    /// Closes the pairing peer's connection and frees its slot.
    ReleasePairingPeer(PeerId),
    IsPairingPeer(PeerId, oneshot::Sender<bool>),
    /// Closes every connection (the node is stopping).
    DisconnectAll,
    Status(oneshot::Sender<MeshStatus>),
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gate: Gate,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    stream: libp2p_stream::Behaviour,
}

/// Who may open which protocol; read by the stream acceptors without a
/// round trip to the swarm task.
#[derive(Default)]
struct Admission {
    members: HashSet<PeerId>,
}

#[derive(Clone)]
pub struct Mesh {
    local: PeerId,
    control: libp2p_stream::Control,
    commands: mpsc::Sender<Command>,
    admission: Arc<RwLock<Admission>>,
}

impl Mesh {
    pub async fn start(config: MeshConfig) -> Result<(Mesh, mpsc::Receiver<MeshEvent>), MeshError> {
        let local = config.keypair.public().to_peer_id();
        let members: Vec<PeerId> = config.members.iter().map(|(p, _)| *p).collect();
        let mdns_on = config.mdns;
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| MeshError::Start(e.to_string()))?
            .with_quic()
            .with_dns()
            .map_err(|e| MeshError::Start(e.to_string()))?
            .with_behaviour(|key| {
                let mdns = if mdns_on {
                    mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                        .ok()
                } else {
                    None
                };
                Behaviour {
                    gate: Gate::new(members.clone()),
                    limits: connection_limits::Behaviour::new(
                        connection_limits::ConnectionLimits::default()
                            .with_max_pending_incoming(Some(32))
                            .with_max_established_per_peer(Some(4)),
                    ),
                    identify: identify::Behaviour::new(identify::Config::new(
                        "/roam/1".into(),
                        key.public(),
                    )),
                    ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_EVERY)),
                    mdns: Toggle::from(mdns),
                    stream: libp2p_stream::Behaviour::new(),
                }
            })
            .map_err(|e| MeshError::Start(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build();
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| MeshError::Listen {
                    addr: addr.to_string(),
                    message: e.to_string(),
                })?;
        }
        for (peer, addrs) in &config.members {
            for a in addrs {
                swarm.add_peer_address(*peer, a.clone());
            }
        }
        let control = swarm.behaviour().stream.new_control();
        let admission = Arc::new(RwLock::new(Admission {
            members: members.iter().copied().collect(),
        }));
        let (commands, command_rx) = mpsc::channel(64);
        let (events, event_rx) = mpsc::channel(256);
        let driver = Driver {
            swarm,
            events: EventQueue::new(events),
            dials: HashMap::new(),
            redial: config
                .members
                .into_iter()
                .map(|(p, addrs)| (p, Redial::new(addrs)))
                .collect(),
            status: MeshStatus::default(),
        };
        tokio::spawn(driver.run(command_rx));
        Ok((
            Mesh {
                local,
                control,
                commands,
                admission,
            },
            event_rx,
        ))
    }

    pub fn local_peer_id(&self) -> PeerId {
        self.local
    }

    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.admission
            .read()
            .map(|a| a.members.contains(peer))
            .unwrap_or(false)
    }

    /// Opens a stream to a peer, dialling it if needed.
    pub async fn open(
        &self,
        peer: PeerId,
        protocol: StreamProtocol,
    ) -> Result<MeshStream, MeshError> {
        let mut control = self.control.clone();
        control
            .open_stream(peer, protocol)
            .await
            .map(|s| s.compat())
            .map_err(|e| MeshError::Unreachable {
                peer: peer.to_string(),
                message: e.to_string(),
            })
    }

    /// Streams peers open to us on `protocol`; the caller checks the roster.
    pub fn incoming(
        &self,
        protocol: StreamProtocol,
    ) -> Result<libp2p_stream::IncomingStreams, MeshError> {
        let mut control = self.control.clone();
        control
            .accept(protocol)
            .map_err(|_| MeshError::Start("protocol registered twice".into()))
    }

    /// Dials an address; returns the peer that answered (if the gate let it in).
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, MeshError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Dial {
            addr: addr.clone(),
            reply,
        })
        .await?;
        rx.await
            .map_err(|_| MeshError::Stopped)?
            .map_err(|message| MeshError::Dial {
                addr: addr.to_string(),
                message,
            })
    }

    pub async fn admit(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), MeshError> {
        if let Ok(mut a) = self.admission.write() {
            a.members.insert(peer);
        }
        self.send(Command::Admit { peer, addrs }).await
    }

    pub async fn expel(&self, peer: PeerId) -> Result<(), MeshError> {
        if let Ok(mut a) = self.admission.write() {
            a.members.remove(&peer);
        }
        self.send(Command::Expel(peer)).await
    }

    pub async fn open_pairing(&self, window: Duration) -> Result<(), MeshError> {
        self.send(Command::OpenPairing(window)).await
    }

    pub async fn close_pairing(&self) -> Result<(), MeshError> {
        self.send(Command::ClosePairing).await
    }

    /// Lets the peer holding the pairing slot go (it failed without using
    /// the code); the window stays open for the next one.
    pub async fn release_pairing_peer(&self, peer: PeerId) -> Result<(), MeshError> {
        self.send(Command::ReleasePairingPeer(peer)).await
    }

    /// Whether `peer` is the one unknown peer let in by the open window:
    /// the only peer whose pairing streams are served.
    pub async fn is_pairing_peer(&self, peer: PeerId) -> bool {
        let (reply, rx) = oneshot::channel();
        if self
            .send(Command::IsPairingPeer(peer, reply))
            .await
            .is_err()
        {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Says goodbye to every peer, so they see this node offline at once
    /// instead of after their idle timeout. Waits briefly for the close to
    /// go out.
    pub async fn shutdown(&self) {
        if self.send(Command::DisconnectAll).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn status(&self) -> Result<MeshStatus, MeshError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Status(reply)).await?;
        rx.await.map_err(|_| MeshError::Stopped)
    }

    async fn send(&self, command: Command) -> Result<(), MeshError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| MeshError::Stopped)
    }
}

/// Backoff state for one roster member.
struct Redial {
    addrs: Vec<Multiaddr>,
    next: Instant,
    wait: Duration,
}

impl Redial {
    fn new(addrs: Vec<Multiaddr>) -> Redial {
        Redial {
            addrs,
            next: Instant::now(),
            wait: REDIAL_MIN,
        }
    }
}

struct Driver {
    swarm: Swarm<Behaviour>,
    events: EventQueue,
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, String>>>,
    redial: HashMap<PeerId, Redial>,
    status: MeshStatus,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            self.events.flush();
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_event(event),
                command = commands.recv() => match command {
                    Some(c) => self.on_command(c),
                    None => return,
                },
                _ = tick.tick() => self.redial_members(),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Dial { addr, reply } => {
                let opts = DialOpts::unknown_peer_id().address(addr).build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dials.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            Command::Admit { peer, addrs } => {
                self.swarm.behaviour_mut().gate.admit(peer);
                for a in &addrs {
                    self.swarm.add_peer_address(peer, a.clone());
                }
                self.redial.insert(peer, Redial::new(addrs));
            }
            Command::Expel(peer) => {
                self.swarm.behaviour_mut().gate.expel(peer);
                self.redial.remove(&peer);
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::DisconnectAll => {
                // Closed first: a peer redialling now must not get a link
                // that dies unannounced when the process exits.
                self.swarm.behaviour_mut().gate.close();
                let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
                self.redial.clear();
                for peer in peers {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
            Command::OpenPairing(window) => self.swarm.behaviour_mut().gate.open_pairing(window),
            Command::ClosePairing => self.swarm.behaviour_mut().gate.close_pairing(),
            Command::ReleasePairingPeer(peer) => {
                self.swarm.behaviour_mut().gate.release_pairing_peer(peer)
            }
            Command::IsPairingPeer(peer, reply) => {
                let _ = reply.send(self.swarm.behaviour().gate.is_pairing_peer(&peer));
            }
            Command::Status(reply) => {
                let mut status = self.status.clone();
                status.listen = self.swarm.listeners().cloned().collect();
                let _ = reply.send(status);
            }
        }
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(addr = %address, "mesh listening");
                self.emit(MeshEvent::Listening { addr: address });
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                if let Some(r) = self.redial.get_mut(&peer_id) {
                    r.wait = REDIAL_MIN;
                }
                let addr = endpoint.get_remote_address().clone();
                self.status.connected.retain(|(p, _)| *p != peer_id);
                self.status.connected.push((peer_id, addr.clone()));
                tracing::info!(peer = %peer_id, addr = %addr, "peer connected");
                self.emit(MeshEvent::Connected {
                    peer: peer_id,
                    addr,
                });
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } if num_established > 0 => {
                tracing::debug!(peer = %peer_id, cause = ?cause, left = num_established, "a connection closed");
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                tracing::info!(peer = %peer_id, cause = ?cause, "peer disconnected");
                self.status.connected.retain(|(p, _)| *p != peer_id);
                self.emit(MeshEvent::Disconnected { peer: peer_id });
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            })) => self.emit(MeshEvent::Rtt { peer, rtt }),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                let listen: Vec<Multiaddr> = info.listen_addrs.into_iter().take(8).collect();
                if self.swarm.behaviour().gate.is_member(&peer_id) {
                    for a in &listen {
                        self.swarm.add_peer_address(peer_id, a.clone());
                    }
                    if let Some(r) = self.redial.get_mut(&peer_id) {
                        for a in &listen {
                            if !r.addrs.contains(a) {
                                r.addrs.push(a.clone());
                            }
                        }
                    }
                }
                self.emit(MeshEvent::Identified {
                    peer: peer_id,
                    listen,
                });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if is_loopback(&addr) {
                        continue;
                    }
                    self.emit(MeshEvent::Discovered {
                        peer,
                        addr: addr.clone(),
                    });
                    // A hint: only a roster member gets dialled at all.
                    if self.swarm.behaviour().gate.is_member(&peer) {
                        self.swarm.add_peer_address(peer, addr);
                    }
                }
            }
            _ => {}
        }
    }

    /// Members that are not connected are dialled again, backing off.
    fn redial_members(&mut self) {
        let now = Instant::now();
        let connected: HashSet<PeerId> = self.swarm.connected_peers().copied().collect();
        for (peer, r) in self.redial.iter_mut() {
            if connected.contains(peer) || r.addrs.is_empty() || now < r.next {
                continue;
            }
            let opts = DialOpts::peer_id(*peer).addresses(r.addrs.clone()).build();
            // Failure here is the usual case (the member is away); the
            // backoff below is the answer, so it is only worth a debug line.
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(peer = %peer, error = %e, "redial not started");
            }
            r.next = now + r.wait;
            r.wait = (r.wait * 2).min(REDIAL_MAX);
        }
    }

    fn emit(&mut self, event: MeshEvent) {
        self.events.emit(event);
    }
}

fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_loopback(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}
