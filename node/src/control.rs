//! Serving a connection: from the local CLI (a Unix socket, mode 0600, in
//! the data dir) or from a paired peer (a mesh stream), with one protocol.
//! The top of the request path, which reads top to bottom:
//!
//! ```text
//! control (frames, version, who may ask what, epoch)
//!   ├─ local CLI ─▶ route (here or the owner?) ─┬─▶ local (this node's state)
//!   │                                          └─▶ forward / relay to the owner
//!   └─ peer ──────▶ local
//! ```
//!
//! Each connection carries framed `Envelope` requests; every request gets
//! exactly one `Response`, and `Attach`/`Logs` then turn the connection
//! into a terminal stream. A malformed frame gets an error response and the
//! connection is closed; the node never panics on what a client sends.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};

use crate::api::{Envelope, PROTOCOL_VERSION, Request, Response};
use crate::conn;
use crate::error::Failure;
use crate::shared::{Origin, Shared};
use crate::{local, ownership, route};

pub async fn serve_connection<S>(stream: S, shared: Arc<Shared>, origin: Origin)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    loop {
        let envelope = match conn::recv::<Envelope, _>(&mut reader).await {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "bad request on control socket");
                let refusal = Failure::invalid(e.to_string());
                let _ = conn::send(&mut writer, &Response::from(refusal)).await;
                close_gently(reader, writer).await;
                return;
            }
        };
        if envelope.version != PROTOCOL_VERSION {
            let refusal = Failure::invalid(format!(
                "protocol version {} but this node speaks {}; restart the node with `roam down --keep-agents && roam up` (its agents keep running)",
                envelope.version, PROTOCOL_VERSION
            ));
            let _ = conn::send(&mut writer, &Response::from(refusal)).await;
            return;
        }
        if let Origin::Peer(peer) = origin
            && !peer_may_send(&envelope.request)
        {
            tracing::warn!(peer = %peer, "refused a local-only request from a peer");
            let refusal = Failure::refused("only the node's own CLI may ask that");
            if conn::send(&mut writer, &Response::from(refusal))
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        let from_peer = matches!(origin, Origin::Peer(_));
        if let Err(stale) =
            ownership::check_epoch(&shared, &envelope.request, envelope.epoch, from_peer).await
        {
            if conn::send(&mut writer, &Response::from(stale))
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        // The local CLI is routed across the mesh; a peer, or a request a
        // node forwarded, is answered here.
        let routed = origin == Origin::Local && !envelope.forwarded;
        let result = match envelope.request {
            // Streams take the connection over; it ends with them.
            Request::Attach {
                target,
                rows,
                cols,
                resume,
            } => {
                let (rows, cols) = crate::api::bounded_size(rows, cols);
                if routed {
                    route::attach(&shared, reader, writer, target, (rows, cols), resume).await;
                } else {
                    let size = (rows, cols);
                    let _ =
                        local::stream_attach(reader, &mut writer, &shared, target, size, resume)
                            .await;
                }
                return;
            }
            Request::Logs { target, follow } => {
                if routed {
                    route::logs(&shared, reader, writer, target, follow).await;
                } else {
                    let _ = local::stream_logs(&mut writer, &shared, target, follow).await;
                }
                return;
            }
            // Host streams serve this node's own agents (authorized above).
            Request::HostPipe { alias, command } => {
                let local = tokio::io::join(reader, writer);
                crate::remote::pipe(shared.hosts.pool(), &alias, &command, local).await;
                return;
            }
            Request::HostTmux(mut spec) => {
                (spec.rows, spec.cols) = crate::api::bounded_size(spec.rows, spec.cols);
                crate::remote::tmux_attach(shared.hosts.pool(), spec, reader, &mut writer).await;
                return;
            }
            request if routed => route::handle(&shared, request).await,
            request => local::handle(&shared, request).await,
        };
        let response = result.unwrap_or_else(Response::from);
        if conn::send(&mut writer, &response).await.is_err() {
            return;
        }
    }
}

/// What a paired peer may ask: one exhaustive match, no wildcard, so a new
/// request is closed to peers until someone decides otherwise here.
/// Workspaces and their terminals, listings, ownership and roster news are
/// the mesh's business; managing this node (shutdown, pairing, hosts) is
/// for its own CLI only, and pairing steps ride their own protocol.
pub fn peer_may_send(request: &Request) -> bool {
    match request {
        Request::Ping
        | Request::Status
        | Request::New { .. }
        | Request::List
        | Request::Stop { .. }
        | Request::Start { .. }
        | Request::Remove {
            superseded: false, ..
        }
        | Request::AddAgent { .. }
        | Request::Send { .. }
        | Request::Logs { .. }
        | Request::Attach { .. }
        | Request::Locate { .. }
        | Request::Reserve { .. }
        | Request::Release { .. }
        | Request::Ownership { .. }
        | Request::RosterSync { .. } => true,
        // Dropping a superseded copy is the user's call, on that node.
        Request::Remove {
            superseded: true, ..
        }
        | Request::Shutdown { .. }
        | Request::PairOpen
        | Request::Join { .. }
        | Request::PairHello { .. }
        | Request::PairConfirm { .. }
        | Request::Unpair { .. }
        | Request::Nodes
        | Request::Dial { .. }
        | Request::HostAdd { .. }
        | Request::HostCheck { .. }
        | Request::HostList
        | Request::HostRemove { .. }
        | Request::HostPipe { .. }
        | Request::HostTmux(_) => false,
    }
}

/// Closes after an error so the client can still read it: closing with
/// unread input would reset the connection and lose the answer. What is
/// left is drained briefly and within a bound, never trusted.
async fn close_gently<S: AsyncRead + AsyncWrite>(
    mut reader: ReadHalf<S>,
    mut writer: WriteHalf<S>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = writer.shutdown().await;
    let mut sink = [0u8; 8192];
    let drain = async {
        let mut left: usize = 1024 * 1024;
        while left > 0 {
            match reader.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}
