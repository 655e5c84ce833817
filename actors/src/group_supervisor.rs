//! GroupSupervisor: starts one GroupCoordinator per consumer group on demand (and, at node
//! start, for every group with stored state), keeps their supervision records, and hands
//! out coordinator addresses; a deleted group's coordinator is forgotten (it ends, see
//! `group_coordinator`). Strategy one-for-one; a coordinator that exceeds the restart
//! intensity is reported failed and escalated to the NodeSupervisor. Group coordinators
//! are placed on this node today; with a cluster the PlacementActor will place them by
//! group id, like partitions.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use crate::group_coordinator::{DropTopicOffsets, GroupCoordinator};
use crate::node_supervisor::{Escalate, NodeSupervisor};
use crate::partition_supervisor::Routes;
use crate::store::GroupStore;
use crate::supervision::{ChildRecord, ChildState, RestartIntensity, SupervisorReport};

/// Groups per node, so a client inventing group ids cannot start unbounded actors.
pub const GROUPS_MAX: usize = 10_000;

struct Child {
    record: ChildRecord,
    addr: Addr<GroupCoordinator>,
}

/// The group supervisor.
pub struct GroupSupervisor {
    store: GroupStore,
    routes: watch::Receiver<Arc<Routes>>,
    intensity: RestartIntensity,
    children: HashMap<String, Child>,
    node: Option<Addr<NodeSupervisor>>,
    replicated: Option<crate::cluster::ReplicatedOffsets>,
}

impl GroupSupervisor {
    /// A group supervisor over the node's group store.
    pub fn new(
        store: GroupStore,
        routes: watch::Receiver<Arc<Routes>>,
        intensity: RestartIntensity,
    ) -> Self {
        GroupSupervisor {
            store,
            routes,
            intensity,
            children: HashMap::new(),
            node: None,
            replicated: None,
        }
    }

    /// Cluster mode: offsets go through the quorum.
    pub fn with_replicated_offsets(
        mut self,
        replicated: Option<crate::cluster::ReplicatedOffsets>,
    ) -> Self {
        self.replicated = replicated;
        self
    }

    fn ensure(&mut self, group_id: &str, me: Addr<Self>) -> Option<Addr<GroupCoordinator>> {
        if let Some(child) = self.children.get(group_id) {
            return Some(child.addr.clone());
        }
        if self.children.len() >= GROUPS_MAX {
            return None;
        }
        let (store, routes, intensity, id) = (
            self.store.clone(),
            self.routes.clone(),
            self.intensity,
            group_id.to_string(),
        );
        let replicated = self.replicated.clone();
        let addr = Supervisor::start(move |_| {
            GroupCoordinator::new(id, store, routes, me, intensity)
                .with_replicated_offsets(replicated.clone())
        });
        let record = ChildRecord::starting(format!("group {group_id}"));
        self.children.insert(
            group_id.to_string(),
            Child {
                record,
                addr: addr.clone(),
            },
        );
        Some(addr)
    }
}

impl Actor for GroupSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        match self.store.group_ids() {
            Ok(ids) => {
                for id in ids {
                    self.ensure(&id, ctx.address());
                }
            }
            Err(err) => tracing::error!(error = %err, "cannot list stored groups"),
        }
    }
}

/// Registers the node supervisor to escalate to.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetGroupParent(pub Addr<NodeSupervisor>);

impl Handler<SetGroupParent> for GroupSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SetGroupParent, _ctx: &mut Self::Context) {
        self.node = Some(msg.0);
    }
}

/// The coordinator of a group, started if needed (`None` past [`GROUPS_MAX`]).
#[derive(Message)]
#[rtype(result = "Option<Addr<GroupCoordinator>>")]
pub struct Coordinator {
    /// Group id.
    pub group_id: String,
    /// Start it if it is not running.
    pub create: bool,
}

impl Handler<Coordinator> for GroupSupervisor {
    type Result = Option<Addr<GroupCoordinator>>;

    fn handle(&mut self, msg: Coordinator, ctx: &mut Self::Context) -> Self::Result {
        // In cluster mode a group another node coordinated exists here too once the quorum
        // holds offsets for it.
        let replicated = self
            .replicated
            .as_ref()
            .is_some_and(|r| r.state.borrow().group_offsets.contains_key(&msg.group_id));
        if msg.create || (replicated && !self.children.contains_key(&msg.group_id)) {
            self.ensure(&msg.group_id, ctx.address())
        } else {
            self.children.get(&msg.group_id).map(|c| c.addr.clone())
        }
    }
}

/// Every running coordinator (ListGroups).
#[derive(Message)]
#[rtype(result = "Vec<(String, Addr<GroupCoordinator>)>")]
pub struct AllCoordinators;

impl Handler<AllCoordinators> for GroupSupervisor {
    type Result = MessageResult<AllCoordinators>;

    fn handle(&mut self, _msg: AllCoordinators, _ctx: &mut Self::Context) -> Self::Result {
        let mut all: Vec<_> = self
            .children
            .iter()
            .map(|(id, c)| (id.clone(), c.addr.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        MessageResult(all)
    }
}

/// A topic was deleted: every coordinator drops its offsets.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TopicDeleted(pub String);

impl Handler<TopicDeleted> for GroupSupervisor {
    type Result = ();

    fn handle(&mut self, msg: TopicDeleted, _ctx: &mut Self::Context) {
        for child in self.children.values() {
            child.addr.do_send(DropTopicOffsets(msg.0.clone()));
        }
    }
}

/// What a coordinator reports about itself.
#[derive(Message)]
#[rtype(result = "()")]
pub enum GroupEvent {
    /// Started or restarted.
    Running {
        /// Group id.
        group_id: String,
    },
    /// Stopped abnormally; `failed` once the restart intensity is exceeded.
    Restarting {
        /// Group id.
        group_id: String,
        /// Why.
        error: String,
        /// Gave up.
        failed: bool,
    },
    /// The group was deleted: its coordinator ends, and a later use of the group id starts
    /// a new one.
    Deleted {
        /// Group id.
        group_id: String,
    },
}

impl Handler<GroupEvent> for GroupSupervisor {
    type Result = ();

    fn handle(&mut self, msg: GroupEvent, _ctx: &mut Self::Context) {
        match msg {
            GroupEvent::Running { group_id } => {
                if let Some(c) = self.children.get_mut(&group_id) {
                    c.record.state = ChildState::Running;
                    c.record.since = std::time::Instant::now();
                }
            }
            GroupEvent::Restarting {
                group_id,
                error,
                failed,
            } => {
                let Some(c) = self.children.get_mut(&group_id) else {
                    return;
                };
                c.record.restarts += 1;
                c.record.last_error = Some(error.clone());
                metrics::counter!("eddy_actor_restarts_total", "supervisor" => "groups")
                    .increment(1);
                if failed {
                    c.record.state = ChildState::Failed;
                    if let Some(node) = &self.node {
                        node.do_send(Escalate {
                            from: "groups".into(),
                            error: format!("group {group_id}: {error}"),
                        });
                    }
                } else {
                    c.record.state = ChildState::Restarting;
                }
            }
            GroupEvent::Deleted { group_id } => {
                // Dropping the address lets the coordinator end once its last requests
                // are answered.
                self.children.remove(&group_id);
            }
        }
    }
}

/// The supervisor's children as report rows.
#[derive(Message)]
#[rtype(result = "Vec<SupervisorReport>")]
pub struct ReportGroups;

impl Handler<ReportGroups> for GroupSupervisor {
    type Result = MessageResult<ReportGroups>;

    fn handle(&mut self, _msg: ReportGroups, _ctx: &mut Self::Context) -> Self::Result {
        let mut rows: Vec<_> = self
            .children
            .values()
            .map(|c| c.record.report(0, Vec::new()))
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        MessageResult(rows)
    }
}
