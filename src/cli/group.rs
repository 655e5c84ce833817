//! `eddy group list|describe|delete`: consumer-group administration through the Kafka API.
//!
//! `describe` joins three answers: DescribeGroups (members and their assignments),
//! OffsetFetch (committed offsets) and ListOffsets (log end offsets), into one row per
//! partition the group has committed or been assigned, with its lag.

use std::collections::BTreeSet;

use anyhow::{anyhow, Context as _};
use clap::{Args, Subcommand};
use eddy::client::{
    Admin, ClientError, GroupDescription, GroupMember, GroupPartitionOffset, ResponseError,
    TopicAssignment,
};
use serde::Serialize;
use serde_json::json;

use super::node_access::{block_on, connect_admin, explain, table, BootstrapArgs};

/// `eddy group` subcommands.
#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List consumer groups with their state.
    List(ListArgs),
    /// Show a group's state, members, assignments, committed offsets and lag.
    Describe(NamedArgs),
    /// Delete a group without members, and its committed offsets.
    Delete(NamedArgs),
}

/// Arguments of `eddy group list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print the groups as a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `eddy group describe` and `eddy group delete`.
#[derive(Args, Debug)]
pub struct NamedArgs {
    /// The group id.
    pub group: String,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One partition of a described group: where the group stands and who reads it.
#[derive(Debug, Serialize)]
struct PartitionRow {
    topic: String,
    partition: i32,
    /// `None` when the group has not committed an offset for the partition yet.
    committed_offset: Option<i64>,
    /// `None` when the partition no longer exists.
    log_end_offset: Option<i64>,
    lag: Option<i64>,
    /// The member the partition is assigned to, if any.
    member_id: Option<String>,
}

/// What `eddy group describe --json` prints.
#[derive(Debug, Serialize)]
struct DescribeOutput<'a> {
    group_id: &'a str,
    state: &'a str,
    protocol_type: &'a str,
    protocol: &'a str,
    members: &'a [GroupMember],
    partitions: Vec<PartitionRow>,
}

/// Runs an `eddy group` subcommand.
pub fn run(command: GroupCommand) -> anyhow::Result<()> {
    block_on(async move {
        match command {
            GroupCommand::List(args) => list(args).await,
            GroupCommand::Describe(args) => describe(args).await,
            GroupCommand::Delete(args) => delete(args).await,
        }
    })
}

/// Turns a client error into advice, naming the group where the error is about it.
fn explain_for_group(err: ClientError, bootstrap: &str, group: &str) -> anyhow::Error {
    let hint = match err.kafka_error() {
        Some(ResponseError::GroupIdNotFound) => Some(format!(
            "group {group} does not exist: see the groups with `eddy group list`"
        )),
        Some(ResponseError::NonEmptyGroup) => Some(format!(
            "group {group} still has members: stop its consumers first \
             (see them with `eddy group describe {group}`)"
        )),
        Some(ResponseError::InvalidGroupId) => Some("a group id cannot be empty".to_owned()),
        _ => None,
    };
    match hint {
        Some(hint) => anyhow::Error::new(err).context(hint),
        None => explain(err, bootstrap),
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let mut admin = connect_admin(&args.bootstrap).await?;
    let groups = admin
        .list_groups()
        .await
        .map_err(|err| explain(err, servers))?;
    if args.json {
        let text = serde_json::to_string(&groups).context("encoding groups")?;
        println!("{text}");
        return Ok(());
    }
    if groups.is_empty() {
        println!("no groups: a consumer with a group id creates one");
        return Ok(());
    }
    let mut out = table(&["GROUP", "STATE", "PROTOCOL-TYPE"]);
    for g in &groups {
        out.add_row(vec![
            g.group_id.clone(),
            g.state.clone().unwrap_or_else(|| "-".to_owned()),
            dash_if_empty(&g.protocol_type),
        ]);
    }
    println!("{out}");
    Ok(())
}

async fn describe(args: NamedArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let group = args.group.as_str();
    let mut admin = connect_admin(&args.bootstrap).await?;
    let description = admin
        .describe_group(group)
        .await
        .map_err(|err| explain_for_group(err, servers, group))?;
    let offsets = admin
        .group_offsets(group)
        .await
        .map_err(|err| explain_for_group(err, servers, group))?;
    let rows = partition_rows(&mut admin, &description, offsets)
        .await
        .map_err(|err| explain_for_group(err, servers, group))?;
    if args.json {
        let output = DescribeOutput {
            group_id: &description.group_id,
            state: &description.state,
            protocol_type: &description.protocol_type,
            protocol: &description.protocol,
            members: &description.members,
            partitions: rows,
        };
        let text = serde_json::to_string(&output).context("encoding the description")?;
        println!("{text}");
    } else {
        print_description(&description, &rows);
    }
    Ok(())
}

/// One row per partition the group committed or has assigned, sorted by topic and
/// partition; assigned partitions without a commit get their log end offset asked for.
async fn partition_rows(
    admin: &mut Admin,
    description: &GroupDescription,
    offsets: Vec<GroupPartitionOffset>,
) -> Result<Vec<PartitionRow>, ClientError> {
    let committed: BTreeSet<(String, i32)> = offsets
        .iter()
        .map(|o| (o.topic.clone(), o.partition))
        .collect();
    let uncommitted: Vec<(String, i32)> = description
        .members
        .iter()
        .flat_map(|m| m.assignment.iter())
        .flat_map(|a| a.partitions.iter().map(|p| (a.topic.clone(), *p)))
        .filter(|tp| !committed.contains(tp))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ends = admin.log_end_offsets(&uncommitted).await?;
    let owner = |topic: &str, partition: i32| {
        description
            .owner(topic, partition)
            .map(|m| m.member_id.clone())
    };
    let mut rows: Vec<PartitionRow> = offsets
        .into_iter()
        .map(|o| PartitionRow {
            member_id: owner(&o.topic, o.partition),
            committed_offset: Some(o.committed_offset),
            log_end_offset: o.log_end_offset,
            lag: o.lag,
            topic: o.topic,
            partition: o.partition,
        })
        .collect();
    rows.extend(
        uncommitted
            .into_iter()
            .map(|(topic, partition)| PartitionRow {
                member_id: owner(&topic, partition),
                committed_offset: None,
                log_end_offset: ends.get(&(topic.clone(), partition)).copied(),
                lag: None,
                topic,
                partition,
            }),
    );
    rows.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(rows)
}

fn print_description(description: &GroupDescription, rows: &[PartitionRow]) {
    let protocol = if description.protocol.is_empty() {
        dash_if_empty(&description.protocol_type)
    } else {
        format!("{}/{}", description.protocol_type, description.protocol)
    };
    println!(
        "group {}: {}, protocol {protocol}, {} member(s)",
        description.group_id,
        description.state,
        description.members.len()
    );
    if !description.members.is_empty() {
        let mut members = table(&["MEMBER", "INSTANCE", "CLIENT-ID", "HOST", "PARTITIONS"]);
        for m in &description.members {
            members.add_row(vec![
                m.member_id.clone(),
                m.group_instance_id
                    .clone()
                    .unwrap_or_else(|| "-".to_owned()),
                dash_if_empty(&m.client_id),
                dash_if_empty(&m.client_host),
                assignment_text(&m.assignment),
            ]);
        }
        println!("\n{members}");
    }
    if rows.is_empty() {
        println!("\nno committed offsets and no assigned partitions");
        return;
    }
    let total_lag: i64 = rows.iter().filter_map(|r| r.lag).sum();
    let mut partitions = table(&[
        "TOPIC",
        "PARTITION",
        "COMMITTED-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "MEMBER",
    ]);
    let or_dash = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for r in rows {
        partitions.add_row(vec![
            r.topic.clone(),
            r.partition.to_string(),
            or_dash(r.committed_offset),
            or_dash(r.log_end_offset),
            or_dash(r.lag),
            r.member_id.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    println!("\n{partitions}\n\ntotal lag: {total_lag}");
}

/// An assignment as `orders:0,1,2 payments:3` (`-` for none).
fn assignment_text(assignment: &[TopicAssignment]) -> String {
    if assignment.is_empty() {
        return "-".to_owned();
    }
    assignment
        .iter()
        .map(|a| {
            let partitions: Vec<String> = a.partitions.iter().map(i32::to_string).collect();
            format!("{}:{}", a.topic, partitions.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn dash_if_empty(s: &str) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s.to_owned()
    }
}

async fn delete(args: NamedArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let group = args.group.as_str();
    if group.is_empty() {
        return Err(anyhow!("a group id cannot be empty"));
    }
    let mut admin = connect_admin(&args.bootstrap).await?;
    admin
        .delete_group(group)
        .await
        .map_err(|err| explain_for_group(err, servers, group))?;
    if args.json {
        println!("{}", json!({ "group_id": group, "deleted": true }));
    } else {
        println!("deleted group {group}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_read_as_topic_partition_lists() {
        assert_eq!(assignment_text(&[]), "-");
        let assignment = [
            TopicAssignment {
                topic: "orders".into(),
                partitions: vec![0, 2],
            },
            TopicAssignment {
                topic: "payments".into(),
                partitions: vec![1],
            },
        ];
        assert_eq!(assignment_text(&assignment), "orders:0,2 payments:1");
    }
}
