//! `eddy cluster status|rebalance|decommission`: the cluster as one of its nodes sees it,
//! through that node's admin HTTP endpoint (`GET /cluster`, `GET /cluster/moves`,
//! `POST /cluster/decommission/{node}`).
//!
//! The answers are read into this module's own types, which hold only the fields printed
//! and default the newer ones (`decommissioning`), so the CLI also reads a node of an
//! older version.

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use clap::{Args, Subcommand};
use eddy::actors::placement::VIRTUAL_NODES_PER_NODE;
use reqwest::Method;
use serde::Deserialize;

use super::admin_client::{AdminArgs, AdminClient};
use super::node_access::{block_on, table};

/// The admin endpoint as these commands call it (`/cluster` lists every partition, hence
/// the larger answers).
const CLIENT: AdminClient = AdminClient {
    serves: "the admin endpoint",
    request_timeout: Duration::from_secs(10),
    response_bytes_max: 32 * 1024 * 1024,
    unreachable_hint: |admin| {
        format!(
            "is a node running with `eddy start --admin {admin}`? (-b finds the admin \
             address the node advertises; --admin HOST:PORT sets it)"
        )
    },
};

/// `eddy cluster` subcommands.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Show the members, the controller and voters, and the partitions' health.
    Status(StatusArgs),
    /// Show the replica moves still pending (with --dry-run; moves start on their own).
    Rebalance(RebalanceArgs),
    /// Move every replica off a node so that it can be removed.
    Decommission(DecommissionArgs),
}

/// Arguments of `eddy cluster status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Also print every partition's leader, replicas and ISR.
    #[arg(long)]
    pub topics: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Arguments of `eddy cluster rebalance`.
#[derive(Args, Debug)]
pub struct RebalanceArgs {
    /// Show the replica moves the cluster still has to make, without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// Arguments of `eddy cluster decommission`.
#[derive(Args, Debug)]
pub struct DecommissionArgs {
    /// The id of the node to decommission.
    #[arg(value_name = "NODE_ID")]
    pub node_id: i32,
    #[command(flatten)]
    pub admin: AdminArgs,
}

// The answers of `GET /cluster` and `GET /cluster/moves`, as the node serves them.
use eddy::actors::cluster::rebalance::Move;
use eddy::node::cluster::status::{
    ClusterStatus as Status, MemberStatus as Member, MovesStatus as Moves,
    PartitionStatus as Partition, TopicStatus as Topic,
};

/// `POST /cluster/decommission/{node}` when accepted.
#[derive(Debug, Deserialize)]
struct Decommissioned {
    node_id: i32,
    decommissioning: bool,
}

/// Runs an `eddy cluster` subcommand.
pub fn run(command: ClusterCommand) -> anyhow::Result<()> {
    match command {
        ClusterCommand::Status(args) => block_on(status(args)),
        ClusterCommand::Rebalance(args) if !args.dry_run => rebalance_usage_error(),
        ClusterCommand::Rebalance(args) => block_on(rebalance(args.admin)),
        ClusterCommand::Decommission(args) => block_on(decommission(args)),
    }
}

/// `rebalance` without `--dry-run` is a usage error (exit code 2, like clap's own): there
/// is nothing to start, since the controller moves replicas as soon as membership changes.
fn rebalance_usage_error() -> ! {
    let mut command = RebalanceArgs::augment_args(clap::Command::new("eddy cluster rebalance"));
    clap::Error::raw(
        clap::error::ErrorKind::MissingRequiredArgument,
        "replicas move on their own when a node joins or is decommissioned \
         (`eddy cluster decommission NODE_ID`), so there is no rebalance to start; \
         `eddy cluster rebalance --dry-run` shows the moves still pending",
    )
    .format(&mut command)
    .exit()
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let admin = args.admin.resolve().await?;
    let body = call(&admin, Method::GET, "/cluster").await?;
    if args.admin.json {
        println!("{}", String::from_utf8_lossy(&body));
        return Ok(());
    }
    let status: Status = parse(&body, &admin)?;
    println!("{}", render_status(&status, args.topics));
    Ok(())
}

async fn rebalance(args: AdminArgs) -> anyhow::Result<()> {
    let admin = args.resolve().await?;
    let body = call(&admin, Method::GET, "/cluster/moves").await?;
    if args.json {
        println!("{}", String::from_utf8_lossy(&body));
        return Ok(());
    }
    let moves: Moves = parse(&body, &admin)?;
    println!("{}", render_moves(&moves));
    Ok(())
}

async fn decommission(args: DecommissionArgs) -> anyhow::Result<()> {
    let admin = args.admin.resolve().await?;
    let path = format!("/cluster/decommission/{}", args.node_id);
    let body = call(&admin, Method::POST, &path).await?;
    if args.admin.json {
        println!("{}", String::from_utf8_lossy(&body));
        return Ok(());
    }
    let answer: Decommissioned = parse(&body, &admin)?;
    if !answer.decommissioning {
        return Err(anyhow!(
            "the node answered that node {} is not decommissioning",
            answer.node_id
        ));
    }
    println!(
        "node {} is being decommissioned: its replicas move to the other nodes; \
         watch with `eddy cluster status`",
        answer.node_id
    );
    Ok(())
}

/// The header, the members table, the ring and the partitions' health; with `topics`,
/// one row per partition too.
fn render_status(status: &Status, topics: bool) -> String {
    let controller = status
        .controller
        .map_or_else(|| "none elected".to_owned(), |c| format!("node {c}"));
    let mut out = format!(
        "cluster {}: controller {controller}, voters {} (as node {} sees it)\n",
        status.cluster_id,
        node_list(&status.voters),
        status.node_id
    );
    let mut members = table(&[
        "NODE", "KAFKA", "PEER", "STATE", "VOTER", "LEADERS", "REPLICAS",
    ]);
    let mut sorted: Vec<&Member> = status.members.iter().collect();
    sorted.sort_by_key(|m| m.node_id);
    for m in sorted {
        members.add_row(vec![
            m.node_id.to_string(),
            m.kafka.clone(),
            or_dash(&m.peer),
            member_state(m).to_owned(),
            if m.voter { "yes" } else { "no" }.to_owned(),
            m.leaders.to_string(),
            m.replicas.to_string(),
        ]);
    }
    out.push_str(&format!("\n{members}\n\n"));
    let ring = ring_nodes(&status.members);
    let nodes = if ring == 1 { "node" } else { "nodes" };
    out.push_str(&format!(
        "hash ring: {ring} {nodes} × {VIRTUAL_NODES_PER_NODE} virtual nodes\n"
    ));
    let health = PartitionHealth::of(&status.topics);
    out.push_str(&format!(
        "partitions: {} total, {} under-replicated, {} offline",
        health.total, health.under_replicated, health.offline
    ));
    if topics && health.total > 0 {
        out.push_str(&format!("\n\n{}", partitions_table(&status.topics)));
    }
    out
}

/// One row per partition, by topic name then partition.
fn partitions_table(topics: &[Topic]) -> comfy_table::Table {
    let mut out = table(&[
        "TOPIC",
        "PARTITION",
        "LEADER",
        "LEADER-EPOCH",
        "REPLICAS",
        "ISR",
        "STATE",
        "PLACEMENT",
    ]);
    let mut sorted: Vec<&Topic> = topics.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for t in sorted {
        let mut partitions: Vec<&Partition> = t.partitions.iter().collect();
        partitions.sort_by_key(|p| p.partition);
        for p in partitions {
            let leader = if is_offline(p) {
                "-".to_owned()
            } else {
                p.leader.to_string()
            };
            out.add_row(vec![
                t.name.clone(),
                p.partition.to_string(),
                leader,
                p.leader_epoch.to_string(),
                node_list(&p.replicas),
                node_list(&p.isr),
                partition_state(p).to_owned(),
                match &p.reassigning_to {
                    Some(target) => format!("{} → {}", t.placement, node_list(target)),
                    None => t.placement.clone(),
                },
            ]);
        }
    }
    out
}

/// How many partitions there are and how many need attention. A partition can be both
/// offline and under-replicated; each count stands on its own, as in Kafka's tools.
#[derive(Debug, Default, PartialEq, Eq)]
struct PartitionHealth {
    total: usize,
    /// The ISR is shorter than the replica set.
    under_replicated: usize,
    /// No leader.
    offline: usize,
}

impl PartitionHealth {
    fn of(topics: &[Topic]) -> Self {
        let mut health = PartitionHealth::default();
        for p in topics.iter().flat_map(|t| &t.partitions) {
            health.total += 1;
            health.under_replicated += usize::from(is_under_replicated(p));
            health.offline += usize::from(is_offline(p));
        }
        health
    }
}

fn is_offline(p: &Partition) -> bool {
    p.leader == -1
}

fn is_under_replicated(p: &Partition) -> bool {
    p.isr.len() < p.replicas.len()
}

/// A partition's worst condition: offline, under-replicated, or ok.
fn partition_state(p: &Partition) -> &'static str {
    if is_offline(p) {
        "offline"
    } else if is_under_replicated(p) {
        "under-replicated"
    } else {
        "ok"
    }
}

/// live, fenced (silent past the session timeout), or decommissioning (replicas leaving).
fn member_state(m: &Member) -> &'static str {
    match (m.decommissioning, m.fenced) {
        (true, true) => "decommissioning, fenced",
        (true, false) => "decommissioning",
        (false, true) => "fenced",
        (false, false) => "live",
    }
}

/// The nodes placement hashes onto: the members not decommissioning. Fenced ones stay on
/// the ring, as in the controller's placement: a node down for a while keeps its replicas.
fn ring_nodes(members: &[Member]) -> usize {
    members.iter().filter(|m| !m.decommissioning).count()
}

/// The moves table and the summary line.
fn render_moves(moves: &Moves) -> String {
    let summary = move_summary(moves.replicas_moving, moves.replicas_total);
    if moves.moves.is_empty() {
        return format!(
            "no moves pending: every replica is where the hash ring puts it\n{summary}"
        );
    }
    let mut out = table(&["TOPIC", "PARTITION", "FROM", "TO", "ADDS", "DROPS"]);
    let mut sorted: Vec<&Move> = moves.moves.iter().collect();
    sorted.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    for m in sorted {
        out.add_row(vec![
            m.topic.clone(),
            m.partition.to_string(),
            node_list(&m.from),
            node_list(&m.to),
            node_list(&added(&m.from, &m.to)),
            node_list(&added(&m.to, &m.from)),
        ]);
    }
    // A move in flight lists its new replicas in `from` already; only its drops are left,
    // and it no longer counts among the replicas that move.
    let drops_only = moves
        .moves
        .iter()
        .filter(|m| added(&m.from, &m.to).is_empty())
        .count();
    if drops_only == 0 {
        format!("{out}\n\n{summary}")
    } else {
        format!(
            "{out}\n\n{summary}; {drops_only} of these partition(s) already have their new \
             replicas and only drop old ones"
        )
    }
}

/// "M of N replicas would move (x.y%)".
fn move_summary(moving: usize, total: usize) -> String {
    let percent = if total == 0 {
        0.0
    } else {
        // Replica counts stay far below 2^52, so the conversion is exact.
        moving as f64 * 100.0 / total as f64
    };
    format!("{moving} of {total} replicas would move ({percent:.1}%)")
}

/// The nodes of `to` that are not in `from`, in `to`'s order (the replicas a move adds;
/// swapped, the ones it drops).
fn added(from: &[i32], to: &[i32]) -> Vec<i32> {
    to.iter().copied().filter(|n| !from.contains(n)).collect()
}

/// Node ids as `1,2,3` (`-` for none).
fn node_list(nodes: &[i32]) -> String {
    if nodes.is_empty() {
        return "-".to_owned();
    }
    nodes
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn or_dash(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], admin: &str) -> anyhow::Result<T> {
    serde_json::from_slice(body).with_context(|| {
        format!("the admin endpoint {admin} sent an unexpected document: is it an Eddy node of this version?")
    })
}

/// Sends one request to the admin endpoint; the body of a 2xx answer, or the node's
/// `{"error": …}` as the error.
async fn call(admin: &str, method: Method, path: &str) -> anyhow::Result<Vec<u8>> {
    let answer = CLIENT.send(admin, method, path, None).await?;
    if answer.status.is_success() {
        return Ok(answer.body);
    }
    Err(answer.refusal(&format!(
        "is {admin} the admin endpoint of an Eddy node of this version?"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> Partition {
        Partition {
            partition,
            leader,
            leader_epoch: 1,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            reassigning_to: None,
        }
    }

    fn member(node_id: i32, fenced: bool, decommissioning: bool) -> Member {
        Member {
            node_id,
            kafka: format!("127.0.0.1:{}", 9091 + node_id),
            peer: String::new(),
            fenced,
            decommissioning,
            voter: true,
            leaders: 0,
            replicas: 0,
        }
    }

    #[test]
    fn partitions_count_as_under_replicated_and_offline_independently() {
        let topics = [
            Topic {
                name: "orders".into(),
                id: String::new(),
                placement: "ring".into(),
                partitions: vec![
                    partition(0, 1, &[1, 2, 3], &[1, 2, 3]),
                    partition(1, 2, &[2, 3, 1], &[2, 3]),
                    // The fenced last leader stays in the ISR: offline, not under-replicated.
                    partition(2, -1, &[3, 1, 2], &[3]),
                ],
            },
            Topic {
                name: "payments".into(),
                id: String::new(),
                placement: "ring".into(),
                partitions: vec![partition(0, -1, &[1], &[1])],
            },
            Topic {
                name: "empty".into(),
                id: String::new(),
                placement: "ring".into(),
                partitions: vec![],
            },
        ];
        assert_eq!(
            PartitionHealth::of(&topics),
            PartitionHealth {
                total: 4,
                under_replicated: 2,
                offline: 2,
            }
        );
        assert_eq!(PartitionHealth::of(&[]), PartitionHealth::default());
        assert_eq!(partition_state(&topics[0].partitions[0]), "ok");
        assert_eq!(
            partition_state(&topics[0].partitions[1]),
            "under-replicated"
        );
        assert_eq!(partition_state(&topics[0].partitions[2]), "offline");
    }

    #[test]
    fn the_ring_holds_every_member_not_decommissioning() {
        let members = [
            member(1, false, false),
            member(2, true, false),
            member(3, false, true),
            member(4, true, true),
            member(5, false, false),
        ];
        assert_eq!(ring_nodes(&members), 3);
        let states: Vec<&str> = members.iter().map(member_state).collect();
        assert_eq!(
            states,
            [
                "live",
                "fenced",
                "decommissioning",
                "decommissioning, fenced",
                "live"
            ]
        );
    }

    #[test]
    fn moves_summarise_as_a_share_of_all_replicas() {
        assert_eq!(move_summary(3, 40), "3 of 40 replicas would move (7.5%)");
        assert_eq!(move_summary(1, 3), "1 of 3 replicas would move (33.3%)");
        assert_eq!(move_summary(0, 0), "0 of 0 replicas would move (0.0%)");
        assert_eq!(added(&[1, 2, 3], &[1, 2, 4]), [4]);
        assert_eq!(added(&[1, 2, 4], &[1, 2, 3]), [3]);
        assert!(added(&[1, 2], &[2, 1]).is_empty());
    }

    #[test]
    fn moves_render_adds_and_drops() {
        let moves: Moves = serde_json::from_str(
            r#"{"replicas_total":12,"replicas_moving":2,"moves":[
                {"topic":"t","partition":1,"from":[2,3],"to":[4,5]},
                {"topic":"t","partition":0,"from":[1,2,3],"to":[1,2,4]}]}"#,
        )
        .unwrap();
        let text = render_moves(&moves);
        assert!(
            text.ends_with("2 of 12 replicas would move (16.7%)"),
            "{text}"
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .take(2)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[0], ["t", "0", "1,2,3", "1,2,4", "4", "3"]);
        assert_eq!(rows[1], ["t", "1", "2,3", "4,5", "4,5", "2,3"]);
        let in_flight: Moves = serde_json::from_str(
            r#"{"replicas_total":26,"replicas_moving":0,"moves":[
                {"topic":"t","partition":0,"from":[3,2,4],"to":[4,2]}]}"#,
        )
        .unwrap();
        assert!(
            render_moves(&in_flight).ends_with(
                "0 of 26 replicas would move (0.0%); 1 of these partition(s) already have \
                 their new replicas and only drop old ones"
            ),
            "{}",
            render_moves(&in_flight)
        );
        let none: Moves =
            serde_json::from_str(r#"{"replicas_total":6,"replicas_moving":0,"moves":[]}"#).unwrap();
        assert!(render_moves(&none).starts_with("no moves pending"));
    }

    #[test]
    fn status_reads_nodes_without_decommissioning_and_renders() {
        let status: Status = serde_json::from_str(
            r#"{"cluster_id":"abc","node_id":2,"controller":null,"voters":[1,2,3],
                "members":[{"node_id":2,"kafka":"h:9093","peer":"h:9193","fenced":false,
                            "voter":true,"leaders":1,"replicas":2},
                           {"node_id":1,"kafka":"h:9092","peer":"","fenced":true,
                            "voter":false,"leaders":0,"replicas":1,"decommissioning":true}],
                "topics":[{"name":"t","id":"00","partitions":[
                    {"partition":0,"leader":-1,"leader_epoch":3,"replicas":[1,2],"isr":[1]}]}]}"#,
        )
        .unwrap();
        assert!(!status.members[0].decommissioning);
        let text = render_status(&status, true);
        assert!(text
            .starts_with("cluster abc: controller none elected, voters 1,2,3 (as node 2 sees it)"));
        assert!(
            text.contains("hash ring: 1 node × 128 virtual nodes"),
            "{text}"
        );
        assert!(text.contains("partitions: 1 total, 1 under-replicated, 1 offline"));
        assert!(text.contains("decommissioning, fenced"));
        let row = text
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>();
        assert_eq!(row, ["t", "0", "-", "3", "1,2", "1", "offline"]);
    }
}
