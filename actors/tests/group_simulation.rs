//! A seeded, deterministic simulation of the consumer-group state machine: a handful of
//! simulated clients join, sync, heartbeat, stall, leave and come back (some static) on a
//! virtual clock, with requests lost at random. Invariants checked after every step:
//! generations never go down; everyone answered in one generation hears the same leader
//! and protocol, and the leader is one of its members; a group is Stable only with its
//! leader's assignment delivered; and once the chaos stops, a group of well-behaved
//! clients converges to Stable with every one of them a member.
//!
//! The seed is printed; `SEED=… cargo test -p eddy-actors --test group_simulation` replays it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy_actors::group::{Group, GroupError, GroupState, JoinOutcome, JoinRequest, Reply, Step};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CLIENTS: usize = 5;
const STEPS: usize = 4_000;
const SESSION_MS: i32 = 6_000;
/// What every leader assigns to every member of its generation.
const ASSIGNMENT: &[u8] = b"a";

#[derive(Debug, Clone, Default)]
struct Client {
    member_id: String,
    instance: Option<String>,
    generation: i32,
    in_join: bool,
    in_sync: bool,
    is_leader_of: Option<i32>,
    up: bool,
}

struct Sim {
    rng: StdRng,
    group: Group,
    clients: Vec<Client>,
    now: Instant,
    last_generation: i32,
    /// Per generation: (leader, protocol) as first answered.
    answers: HashMap<i32, (String, Option<String>)>,
    /// Per generation: its members, from the leader's join answer.
    members_of: HashMap<i32, Vec<String>>,
    /// Generations whose leader's SyncGroup (with the assignment) the group accepted.
    leader_synced: HashSet<i32>,
}

fn join_request(c: &Client, i: usize) -> JoinRequest {
    JoinRequest {
        member_id: c.member_id.clone(),
        group_instance_id: c.instance.clone(),
        client_id: format!("client-{i}"),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: 10_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"m"))],
        require_known_member_id: true,
    }
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let clients = (0..CLIENTS)
            .map(|i| Client {
                instance: (i % 2 == 0).then(|| format!("static-{i}")),
                up: true,
                ..Client::default()
            })
            .collect();
        Sim {
            rng: StdRng::seed_from_u64(seed),
            group: Group::new("sim", 0, None),
            clients,
            now: Instant::now(),
            last_generation: 0,
            answers: HashMap::new(),
            members_of: HashMap::new(),
            leader_synced: HashSet::new(),
        }
    }

    fn on_join(&mut self, i: usize, o: JoinOutcome, seed: u64) {
        let c = &mut self.clients[i];
        c.in_join = false;
        match o.error {
            Some(GroupError::MemberIdRequired) => c.member_id = o.member_id,
            Some(_) => c.member_id.clear(),
            None => {
                c.member_id = o.member_id.clone();
                c.generation = o.generation_id;
                c.is_leader_of = (!o.members.is_empty()).then_some(o.generation_id);
                let first = self
                    .answers
                    .entry(o.generation_id)
                    .or_insert((o.leader.clone(), o.protocol_name.clone()));
                assert_eq!(
                    first.0, o.leader,
                    "seed {seed}: two leaders in generation {}",
                    o.generation_id
                );
                assert_eq!(
                    first.1, o.protocol_name,
                    "seed {seed}: two protocols in generation {}",
                    o.generation_id
                );
                if !o.members.is_empty() {
                    let ids: Vec<String> = o.members.iter().map(|m| m.member_id.clone()).collect();
                    assert!(
                        ids.contains(&o.member_id),
                        "seed {seed}: the leader is not among its members"
                    );
                    self.members_of.insert(o.generation_id, ids);
                }
            }
        }
    }

    fn deliver(&mut self, replies: Vec<Reply>, seed: u64) {
        for reply in replies {
            match reply {
                Reply::Join(member, o) => {
                    if let Some(i) = self
                        .clients
                        .iter()
                        .position(|c| c.member_id == member && c.in_join)
                    {
                        self.on_join(i, o, seed);
                    }
                }
                Reply::Sync(member, o) => {
                    if let Some(c) = self
                        .clients
                        .iter_mut()
                        .find(|c| c.member_id == member && c.in_sync)
                    {
                        c.in_sync = false;
                        if o.error.is_some() {
                            c.member_id.clear();
                        } else {
                            assert_eq!(
                                o.assignment, ASSIGNMENT,
                                "seed {seed}: a parked SyncGroup was answered without the \
                                 leader's assignment"
                            );
                        }
                    }
                }
            }
        }
    }

    fn act(&mut self, i: usize, chaos: bool, seed: u64) {
        let mut replies = Vec::new();
        let c = self.clients[i].clone();
        if !c.up || c.in_join || c.in_sync {
            return;
        }
        // Lost requests: the client sends, the group never hears of it.
        if chaos && self.rng.gen_bool(0.05) {
            return;
        }
        if c.member_id.is_empty()
            || c.generation == 0
            || self.group.generation_id > c.generation && !self.group.is_member(&c.member_id)
        {
            self.clients[i].in_join = true;
            match self.group.join(join_request(&c, i), self.now, &mut replies) {
                Step::Now(o) => self.on_join(i, o, seed),
                Step::Park(member) => self.clients[i].member_id = member,
            }
        } else if chaos && self.rng.gen_bool(0.02) {
            let _ = self
                .group
                .leave(&c.member_id, c.instance.as_deref(), self.now, &mut replies);
            self.clients[i] = Client {
                instance: c.instance,
                up: true,
                ..Client::default()
            };
        } else if self.group.state == GroupState::CompletingRebalance
            && c.generation == self.group.generation_id
        {
            let assignments = if c.is_leader_of == Some(c.generation) {
                self.members_of
                    .get(&c.generation)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| (m, Bytes::from_static(ASSIGNMENT)))
                    .collect()
            } else {
                Vec::new()
            };
            self.clients[i].in_sync = true;
            match self.group.sync(
                &c.member_id,
                c.generation,
                c.instance.as_deref(),
                assignments,
                self.now,
                &mut replies,
            ) {
                Step::Now(o) => {
                    self.clients[i].in_sync = false;
                    if o.error.is_some() {
                        self.clients[i].member_id.clear();
                    } else {
                        assert_eq!(
                            o.assignment, ASSIGNMENT,
                            "seed {seed}: a SyncGroup was answered without the leader's \
                             assignment"
                        );
                        if c.is_leader_of == Some(c.generation) {
                            self.leader_synced.insert(c.generation);
                        }
                    }
                }
                Step::Park(_) => {}
            }
        } else {
            match self
                .group
                .heartbeat(&c.member_id, c.generation, c.instance.as_deref(), self.now)
            {
                Ok(()) => {}
                Err(GroupError::RebalanceInProgress | GroupError::IllegalGeneration) => {
                    self.clients[i].in_join = true;
                    match self
                        .group
                        .join(join_request(&self.clients[i], i), self.now, &mut replies)
                    {
                        Step::Now(o) => self.on_join(i, o, seed),
                        Step::Park(member) => self.clients[i].member_id = member,
                    }
                }
                Err(_) => self.clients[i].member_id.clear(),
            }
        }
        self.deliver(replies, seed);
    }

    fn step(&mut self, chaos: bool, seed: u64) {
        self.now += Duration::from_millis(self.rng.gen_range(50..400));
        let i = self.rng.gen_range(0..CLIENTS);
        if chaos && self.rng.gen_bool(0.01) {
            // A stall: the client stops for a while (longer than a session, sometimes).
            self.clients[i].up = !self.clients[i].up;
        }
        self.act(i, chaos, seed);
        let mut replies = Vec::new();
        self.group.poll(self.now, &mut replies);
        self.deliver(replies, seed);
        self.check(seed);
    }

    fn check(&mut self, seed: u64) {
        assert!(
            self.group.generation_id >= self.last_generation,
            "seed {seed}: generation went down"
        );
        self.last_generation = self.group.generation_id;
        if self.group.state == GroupState::Stable {
            let leader = self.group.leader.clone().unwrap_or_default();
            assert!(
                self.group.is_member(&leader),
                "seed {seed}: stable group without a member leader"
            );
            assert!(
                self.leader_synced.contains(&self.group.generation_id),
                "seed {seed}: generation {} is Stable before its leader's SyncGroup",
                self.group.generation_id
            );
            for m in self.group.members() {
                assert_eq!(
                    m.assignment, ASSIGNMENT,
                    "seed {seed}: member {} of the Stable generation {} holds no assignment \
                     from its leader",
                    m.member_id, self.group.generation_id
                );
            }
        }
    }
}

#[test]
fn group_protocol_survives_random_interleavings() {
    let seeds: Vec<u64> = match std::env::var("SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (0..20).map(|i| 0x5eed_0000 + i).collect(),
    };
    for seed in seeds {
        println!("simulating group seed {seed}");
        let mut sim = Sim::new(seed);
        for _ in 0..STEPS {
            sim.step(true, seed);
        }
        // Chaos over: everyone up and well-behaved for long enough to converge.
        for c in &mut sim.clients {
            c.up = true;
        }
        for _ in 0..STEPS {
            sim.step(false, seed);
            let all_in = sim
                .clients
                .iter()
                .all(|c| !c.member_id.is_empty() && sim.group.is_member(&c.member_id));
            if sim.group.state == GroupState::Stable && all_in {
                break;
            }
        }
        let members: BTreeMap<_, _> = sim
            .clients
            .iter()
            .enumerate()
            .map(|(i, c)| (i, sim.group.is_member(&c.member_id)))
            .collect();
        println!(
            "seed {seed}: converged at generation {} after {} answered generations",
            sim.group.generation_id,
            sim.answers.len()
        );
        assert!(
            sim.answers.len() > 1,
            "seed {seed}: the chaos never caused a rebalance; the simulation is too tame"
        );
        assert_eq!(
            sim.group.state,
            GroupState::Stable,
            "seed {seed}: did not converge; members {members:?}"
        );
        assert!(
            members.values().all(|m| *m),
            "seed {seed}: not every client is a member: {members:?}"
        );
    }
}
