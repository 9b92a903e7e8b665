//! This node's actor tree, asked: the one place requests reach the Node,
//! Workspace and Agent actors, with their failures worded for the user.
//! The bottom of the request path; it calls nothing above it.

use std::time::Duration;

use ractor::ActorRef;
use roam_actors::agent::AgentMsg;
use roam_actors::model::WorkspaceRecord;
use roam_actors::node::NodeMsg;
use roam_actors::workspace::WorkspaceMsg;

use crate::api::{Target, WorkspaceInfo};
use crate::error::Failure;
use crate::shared::Shared;

const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// This node's workspaces (superseded copies included), by name.
pub async fn list(shared: &Shared) -> Result<Vec<WorkspaceInfo>, Failure> {
    let mut list: Vec<WorkspaceInfo> = ask(&shared.node, NodeMsg::List)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

pub async fn workspace(shared: &Shared, name: &str) -> Result<ActorRef<WorkspaceMsg>, Failure> {
    try_ask(&shared.node, |r| NodeMsg::Get(name.to_string(), r)).await
}

/// The record of this node's workspace `name`, if it has one.
pub async fn record(shared: &Shared, name: &str) -> Result<WorkspaceRecord, Failure> {
    let ws = workspace(shared, name).await?;
    ask(&ws, WorkspaceMsg::Record).await
}

/// Every record this node holds.
pub async fn records(shared: &Shared) -> Vec<WorkspaceRecord> {
    ask(&shared.node, NodeMsg::Records)
        .await
        .unwrap_or_default()
}

/// What this node is doing to workspace `name` right now ("created",
/// "removed"), if anything.
pub async fn busy(shared: &Shared, name: &str) -> Option<&'static str> {
    ask(&shared.node, |r| NodeMsg::Busy(name.to_string(), r))
        .await
        .unwrap_or(None)
}

pub async fn agent(shared: &Shared, target: &Target) -> Result<ActorRef<AgentMsg>, Failure> {
    let ws = workspace(shared, &target.workspace).await?;
    let name = target.agent.clone();
    try_ask(&ws, |reply| WorkspaceMsg::Agent { name, reply }).await
}

/// One call into the actor tree, its failure worded for the user.
pub async fn ask<M, T, F>(actor: &ActorRef<M>, msg: F) -> Result<T, Failure>
where
    M: ractor::Message,
    T: Send + 'static,
    F: FnOnce(ractor::RpcReplyPort<T>) -> M,
{
    match actor.call(msg, Some(CALL_TIMEOUT)).await {
        Ok(ractor::rpc::CallResult::Success(v)) => Ok(v),
        Ok(ractor::rpc::CallResult::Timeout) => Err(Failure::new(
            crate::api::ErrorKind::Busy,
            "the node did not answer in time",
        )),
        Ok(ractor::rpc::CallResult::SenderError) => Err(Failure::internal(
            "the request was dropped (node stopping?)",
        )),
        Err(e) => Err(Failure::internal(format!("node unavailable: {e}"))),
    }
}

pub async fn try_ask<M, T, F>(actor: &ActorRef<M>, msg: F) -> Result<T, Failure>
where
    M: ractor::Message,
    T: Send + 'static,
    F: FnOnce(ractor::RpcReplyPort<Result<T, roam_actors::ActorError>>) -> M,
{
    ask(actor, msg).await?.map_err(Failure::from)
}
