//! The MetadataActor's deployment protocol: the topologies deployed to the cluster
//! (`eddy topology deploy`), which every node runs, and each node's catalog (the topology
//! names its binary can run). No actor of its own: these are messages to the
//! [`MetadataActor`], which owns the records alongside the topics (see `metadata.rs` for its
//! supervision and restart).
//!
//! On a single node a deployment is kept in fjall (the `deployments` keyspace) and loaded
//! with the topics at start (`LoadTopics`); in cluster mode it is proposed to the quorum as
//! a [`Command`] and comes back, like every change, through `ApplyClusterState`. Either way
//! it is published in the [`MetadataSnapshot`](crate::metadata::MetadataSnapshot). A
//! catalog is never stored on a single node: the binary reports it again at every start.
//!
//! Whether a deploy is recorded, already done or refused is decided by [`decide_deploy`],
//! the same pure function on both paths.

use std::collections::BTreeMap;

use actix::prelude::*;

use crate::cluster::Command;
use crate::error::{ActorError, ActorResult};
use crate::metadata::{MetadataActor, TOPIC_NAME_LEN_MAX};
use crate::store::DeploymentRecord;

/// What a deploy does, given the record its application id already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployDecision {
    /// The application id is free: record the deployment.
    Record,
    /// The same topology and configs are already deployed under it (a retry): nothing to
    /// do, the first record (and its `deployed_at_ms`) stays.
    AlreadyDeployed,
    /// Another topology or other configs hold it; the explanation for the caller.
    Conflict(String),
    /// Some nodes' binaries cannot run the topology (their reported catalogs lack it); the
    /// explanation, naming them.
    Unrunnable(String),
}

/// Decides a deploy of `new` over `existing`, the record of the same application id, given
/// the catalogs the nodes reported (node → the topology names its binary can run): a
/// topology some reported catalog lacks is refused, naming those nodes, so a mixed-version
/// cluster never records what some of its nodes cannot run.
pub fn decide_deploy(
    existing: Option<&DeploymentRecord>,
    new: &DeploymentRecord,
    catalogs: &BTreeMap<i32, Vec<String>>,
) -> DeployDecision {
    let unable: Vec<String> = catalogs
        .iter()
        .filter(|(_, names)| !names.contains(&new.topology))
        .map(|(node, _)| node.to_string())
        .collect();
    if !unable.is_empty() && existing.is_none() {
        return DeployDecision::Unrunnable(format!(
            "node(s) {} cannot run topology {:?}: their binary's catalog lacks it; run a binary that registers it on every node (or decommission those nodes), then deploy again",
            unable.join(", "),
            new.topology
        ));
    }
    match existing {
        None => DeployDecision::Record,
        Some(old) if old.topology == new.topology && old.configs == new.configs => {
            DeployDecision::AlreadyDeployed
        }
        Some(old) => DeployDecision::Conflict(format!(
            "application {} is already deployed (topology {}); undeploy it first",
            old.application_id, old.topology
        )),
    }
}

/// Checks what a deploy names before anything is recorded: the application id prefixes
/// the application's internal topics, so it follows the topic name rules; the topology
/// name must be given.
fn check_deployment(deployment: &DeploymentRecord) -> ActorResult<()> {
    let invalid = |name: &str, value: &str, reason: &str| ActorError::InvalidConfig {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let id = &deployment.application_id;
    if id.is_empty() || id.len() > TOPIC_NAME_LEN_MAX {
        return Err(invalid(
            "application.id",
            id,
            "must have 1 to 249 characters",
        ));
    }
    let legal = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-';
    if !id.chars().all(legal) {
        return Err(invalid(
            "application.id",
            id,
            "only ASCII letters, digits, '.', '_' and '-' are allowed (it prefixes topic names)",
        ));
    }
    if deployment.topology.is_empty() {
        return Err(invalid("topology", "", "a topology name is required"));
    }
    Ok(())
}

/// An answer that needs nothing more from the actor.
fn answer(result: ActorResult<()>) -> AtomicResponse<MetadataActor, ActorResult<()>> {
    AtomicResponse::new(Box::pin(fut::ready(result)))
}

/// Deploy a topology to the cluster under its application id. Idempotent: the same
/// topology and configs again answer Ok and keep the first record; another topology or
/// other configs under the same id are refused with [`ActorError::DeploymentExists`].
#[derive(Message, Debug, Clone)]
#[rtype(result = "ActorResult<()>")]
pub struct Deploy(pub DeploymentRecord);

impl Handler<Deploy> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<()>>;

    fn handle(&mut self, msg: Deploy, _ctx: &mut Self::Context) -> Self::Result {
        let deployment = msg.0;
        if let Err(err) = check_deployment(&deployment) {
            return answer(Err(err));
        }
        if self.proposer.is_some() {
            let propose = self.propose(Command::Deploy(deployment));
            return AtomicResponse::new(Box::pin(
                async move { propose.await.map(|_| ()) }.into_actor(self),
            ));
        }
        let result = self.deploy_locally(deployment);
        answer(result)
    }
}

/// Remove a deployment; [`ActorError::UnknownDeployment`] if none has this id.
#[derive(Message, Debug, Clone)]
#[rtype(result = "ActorResult<()>")]
pub struct Undeploy {
    /// The deployment's application id.
    pub application_id: String,
}

impl Handler<Undeploy> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<()>>;

    fn handle(&mut self, msg: Undeploy, _ctx: &mut Self::Context) -> Self::Result {
        if self.proposer.is_some() {
            let propose = self.propose(Command::Undeploy {
                application_id: msg.application_id,
            });
            return AtomicResponse::new(Box::pin(
                async move { propose.await.map(|_| ()) }.into_actor(self),
            ));
        }
        let result = self.undeploy_locally(&msg.application_id);
        answer(result)
    }
}

/// Record a deployed application's co-partition groups (each group's first topic is the
/// anchor the others follow): in cluster mode the controller then moves the other topics
/// of each group onto their anchor's replicas. A single node has nothing to place: Ok.
/// Refused with [`ActorError::UnknownDeployment`] unless the application is deployed.
#[derive(Message, Debug, Clone)]
#[rtype(result = "ActorResult<()>")]
pub struct Colocate {
    /// The deployment's application id.
    pub application_id: String,
    /// Its co-partition groups.
    pub groups: Vec<Vec<String>>,
}

impl Handler<Colocate> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<()>>;

    fn handle(&mut self, msg: Colocate, _ctx: &mut Self::Context) -> Self::Result {
        if self.proposer.is_none() {
            let known = self.snapshot.deployments.contains_key(&msg.application_id);
            return answer(if known {
                Ok(())
            } else {
                Err(ActorError::UnknownDeployment(msg.application_id))
            });
        }
        let propose = self.propose(Command::Colocate {
            application_id: msg.application_id,
            groups: msg.groups,
        });
        AtomicResponse::new(Box::pin(
            async move { propose.await.map(|_| ()) }.into_actor(self),
        ))
    }
}

/// This node's binary reports the topology names it can run, at start. The caller retries
/// on error (in cluster mode the quorum may have no leader yet, or the node may not be
/// registered yet).
#[derive(Message, Debug, Clone)]
#[rtype(result = "ActorResult<()>")]
pub struct ReportCatalog {
    /// The catalog's topology names.
    pub names: Vec<String>,
}

impl Handler<ReportCatalog> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<()>>;

    fn handle(&mut self, msg: ReportCatalog, _ctx: &mut Self::Context) -> Self::Result {
        let node_id = self.node_id;
        if self.snapshot.catalogs.get(&node_id) == Some(&msg.names) {
            // Already known (in cluster mode: in the applied state): no proposal needed.
            return answer(Ok(()));
        }
        if self.proposer.is_some() {
            let propose = self.propose(Command::SetCatalog {
                node_id,
                names: msg.names,
            });
            return AtomicResponse::new(Box::pin(
                async move { propose.await.map(|_| ()) }.into_actor(self),
            ));
        }
        self.snapshot.catalogs.insert(node_id, msg.names);
        self.publish();
        answer(Ok(()))
    }
}

impl MetadataActor {
    /// Single-node mode: records the deployment in fjall (synced), then publishes it.
    fn deploy_locally(&mut self, deployment: DeploymentRecord) -> ActorResult<()> {
        let existing = self.snapshot.deployments.get(&deployment.application_id);
        match decide_deploy(existing, &deployment, &self.snapshot.catalogs) {
            DeployDecision::AlreadyDeployed => Ok(()),
            DeployDecision::Conflict(why) => Err(ActorError::DeploymentExists(why)),
            DeployDecision::Unrunnable(why) => Err(ActorError::DeploymentUnrunnable(why)),
            DeployDecision::Record => {
                self.store.meta().put_deployment(&deployment)?;
                tracing::info!(
                    application_id = %deployment.application_id,
                    topology = %deployment.topology,
                    "topology deployed"
                );
                self.snapshot
                    .deployments
                    .insert(deployment.application_id.clone(), deployment);
                self.publish();
                Ok(())
            }
        }
    }

    /// Single-node mode: removes the deployment from fjall (synced), then publishes.
    fn undeploy_locally(&mut self, application_id: &str) -> ActorResult<()> {
        if !self.snapshot.deployments.contains_key(application_id) {
            return Err(ActorError::UnknownDeployment(application_id.to_string()));
        }
        self.store.meta().remove_deployment(application_id)?;
        self.snapshot.deployments.remove(application_id);
        self.publish();
        tracing::info!(%application_id, "topology undeployed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn deployment(app: &str, topology: &str, configs: &[(&str, &str)]) -> DeploymentRecord {
        DeploymentRecord {
            application_id: app.into(),
            topology: topology.into(),
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            deployed_at_ms: 1,
        }
    }

    #[test]
    fn a_deploy_is_recorded_repeated_or_refused() {
        let wc = deployment("wc", "wordcount", &[("num.stream.threads", "2")]);
        assert_eq!(
            decide_deploy(None, &wc, &BTreeMap::new()),
            DeployDecision::Record
        );
        let mut later = wc.clone();
        later.deployed_at_ms = 99;
        assert_eq!(
            decide_deploy(Some(&wc), &later, &BTreeMap::new()),
            DeployDecision::AlreadyDeployed
        );
        let other = deployment("wc", "payments", &[("num.stream.threads", "2")]);
        assert_eq!(
            decide_deploy(Some(&wc), &other, &BTreeMap::new()),
            DeployDecision::Conflict(
                "application wc is already deployed (topology wordcount); undeploy it first".into()
            )
        );
        let reconfigured = deployment("wc", "wordcount", &[]);
        assert!(matches!(
            decide_deploy(Some(&wc), &reconfigured, &BTreeMap::new()),
            DeployDecision::Conflict(_)
        ));
    }

    #[test]
    fn a_topology_a_reported_catalog_lacks_is_refused_naming_the_nodes() {
        let shout = deployment("s", "shout", &[]);
        let catalogs: BTreeMap<i32, Vec<String>> = [
            (1, vec!["wordcount".to_string()]),
            (2, vec!["wordcount".to_string()]),
            (3, vec!["shout".to_string(), "wordcount".to_string()]),
        ]
        .into();
        match decide_deploy(None, &shout, &catalogs) {
            DeployDecision::Unrunnable(why) => assert!(why.contains("node(s) 1, 2"), "{why}"),
            other => panic!("{other:?}"),
        }
        let wc = deployment("wc", "wordcount", &[]);
        assert_eq!(decide_deploy(None, &wc, &catalogs), DeployDecision::Record);
    }

    #[test]
    fn application_ids_follow_the_topic_name_rules() {
        assert!(check_deployment(&deployment("wc-1.v2_eu", "wordcount", &[])).is_ok());
        assert!(check_deployment(&deployment("", "wordcount", &[])).is_err());
        assert!(check_deployment(&deployment("with space", "wordcount", &[])).is_err());
        assert!(check_deployment(&deployment(&"a".repeat(250), "wordcount", &[])).is_err());
        assert!(check_deployment(&deployment("wc", "", &[])).is_err());
    }
}
