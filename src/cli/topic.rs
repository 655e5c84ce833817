//! `eddy topic create|list|describe|delete`: topic administration through the Kafka API.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use eddy::client::{TopicDescription, TopicInfo};
use serde_json::json;

use super::node_access::{
    block_on, connect_admin, explain, explain_for_topic, parse_key_value, table, BootstrapArgs,
};

/// `eddy topic` subcommands.
#[derive(Subcommand, Debug)]
pub enum TopicCommand {
    /// Create a topic.
    Create(CreateArgs),
    /// List topics with their partition count and leaders.
    List(ListArgs),
    /// Show a topic's partitions (leader, replicas, ISR) and configs.
    Describe(NamedArgs),
    /// Delete a topic and its records.
    Delete(NamedArgs),
    /// Delete a partition's records below an offset (Kafka's DeleteRecords).
    Trim(TrimArgs),
}

/// Arguments of `eddy topic trim`.
#[derive(Args, Debug)]
pub struct TrimArgs {
    /// The topic name.
    pub name: String,
    /// The partition to trim.
    #[arg(long, default_value_t = 0)]
    pub partition: i32,
    /// Delete every record below this offset; -1 deletes everything written so far.
    #[arg(long, allow_hyphen_values = true)]
    pub before: i64,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `eddy topic create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The topic name.
    pub name: String,
    /// Number of partitions.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Number of replicas of each partition.
    #[arg(long, default_value_t = 1)]
    pub replication_factor: i16,
    /// A topic config, e.g. `--config retention.ms=86400000` (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub configs: Vec<(String, String)>,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `eddy topic list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print the topics as a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `eddy topic describe` and `eddy topic delete`.
#[derive(Args, Debug)]
pub struct NamedArgs {
    /// The topic name.
    pub name: String,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs an `eddy topic` subcommand.
pub fn run(command: TopicCommand) -> anyhow::Result<()> {
    block_on(async move {
        match command {
            TopicCommand::Create(args) => create(args).await,
            TopicCommand::List(args) => list(args).await,
            TopicCommand::Describe(args) => describe(args).await,
            TopicCommand::Delete(args) => delete(args).await,
            TopicCommand::Trim(args) => trim(args).await,
        }
    })
}

async fn create(args: CreateArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let mut admin = connect_admin(&args.bootstrap).await?;
    admin
        .create_topic(
            &args.name,
            args.partitions,
            args.replication_factor,
            &args.configs,
        )
        .await
        .map_err(|err| explain_for_topic(err, servers, Some(&args.name)))?;
    if args.json {
        let result = json!({
            "topic": args.name,
            "partitions": args.partitions,
            "replication_factor": args.replication_factor,
            "created": true,
        });
        println!("{result}");
    } else {
        println!(
            "created topic {} ({} partition(s), replication factor {})",
            args.name, args.partitions, args.replication_factor
        );
    }
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let mut admin = connect_admin(&args.bootstrap).await?;
    let topics = admin
        .list_topics()
        .await
        .map_err(|err| explain(err, servers))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&topics).context("encoding topics")?
        );
        return Ok(());
    }
    if topics.is_empty() {
        println!("no topics: create one with `eddy topic create NAME`");
        return Ok(());
    }
    let mut out = table(&["TOPIC", "PARTITIONS", "LEADERS"]);
    for topic in &topics {
        out.add_row(vec![
            topic.name.clone(),
            topic.partitions.len().to_string(),
            leaders(topic),
        ]);
    }
    println!("{out}");
    Ok(())
}

/// The leaders of a topic's partitions in partition order, e.g. `1,1,2` (`-` for none).
fn leaders(topic: &TopicInfo) -> String {
    let leaders: Vec<String> = topic
        .partitions
        .iter()
        .map(|p| {
            if p.leader >= 0 {
                p.leader.to_string()
            } else {
                "-".to_owned()
            }
        })
        .collect();
    leaders.join(",")
}

async fn describe(args: NamedArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let mut admin = connect_admin(&args.bootstrap).await?;
    let description = admin
        .describe_topic(&args.name)
        .await
        .map_err(|err| explain_for_topic(err, servers, Some(&args.name)))?;
    if args.json {
        let text = serde_json::to_string(&description).context("encoding the description")?;
        println!("{text}");
    } else {
        print_description(&description);
    }
    Ok(())
}

fn print_description(description: &TopicDescription) {
    let topic = &description.topic;
    println!(
        "topic {} ({} partition(s){})",
        topic.name,
        topic.partitions.len(),
        if topic.internal { ", internal" } else { "" }
    );
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let mut partitions = table(&["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR"]);
    for p in &topic.partitions {
        partitions.add_row(vec![
            p.partition.to_string(),
            p.leader.to_string(),
            p.leader_epoch.to_string(),
            ids(&p.replicas),
            ids(&p.isr),
        ]);
    }
    println!("\n{partitions}");
    if description.configs.is_empty() {
        return;
    }
    let mut configs = table(&["CONFIG", "VALUE", "SOURCE"]);
    for c in &description.configs {
        let value = match (&c.value, c.sensitive) {
            (_, true) => "(sensitive)".to_owned(),
            (Some(value), false) => value.clone(),
            (None, false) => "(null)".to_owned(),
        };
        configs.add_row(vec![c.name.clone(), value, c.source.to_string()]);
    }
    println!("\n{configs}");
}

async fn delete(args: NamedArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let mut admin = connect_admin(&args.bootstrap).await?;
    admin
        .delete_topic(&args.name)
        .await
        .map_err(|err| explain_for_topic(err, servers, Some(&args.name)))?;
    if args.json {
        println!("{}", json!({ "topic": args.name, "deleted": true }));
    } else {
        println!("deleted topic {}", args.name);
    }
    Ok(())
}

async fn trim(args: TrimArgs) -> anyhow::Result<()> {
    let servers = &args.bootstrap.bootstrap_server;
    let mut admin = connect_admin(&args.bootstrap).await?;
    let low = admin
        .delete_records(&args.name, args.partition, args.before)
        .await
        .map_err(|err| explain_for_topic(err, servers, Some(&args.name)))?;
    if args.json {
        println!(
            "{}",
            json!({ "topic": args.name, "partition": args.partition, "log_start_offset": low })
        );
    } else {
        println!(
            "{}-{}: records below offset {low} deleted (new log start offset)",
            args.name, args.partition
        );
    }
    Ok(())
}
