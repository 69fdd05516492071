//! `brook groups list|describe|delete`, like `kafka-consumer-groups.sh`.

use std::collections::BTreeMap;

use anyhow::anyhow;
use brook_client::{OffsetSpec, TopicPartition};

use super::{block_on, ConnectArgs, Session, Table};

#[derive(clap::Subcommand, Debug)]
pub enum GroupsCommand {
    /// List the groups with their states.
    List {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Describe groups: state, members, and per partition the committed offset, the log
    /// end offset and the lag.
    Describe {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Delete groups (they must have no active members) and their committed offsets.
    Delete {
        #[arg(required = true, value_name = "GROUP")]
        groups: Vec<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

pub fn run(command: GroupsCommand) -> anyhow::Result<()> {
    block_on(async move {
        match command {
            GroupsCommand::List { connect } => {
                let s = Session::connect(&connect).await?;
                list(&s).await
            }
            GroupsCommand::Describe { groups, connect } => {
                let s = Session::connect(&connect).await?;
                let mut failed = Vec::new();
                for (i, g) in groups.iter().enumerate() {
                    if i > 0 {
                        println!();
                    }
                    if let Err(e) = describe(&s, g).await {
                        eprintln!("error: {e:#}");
                        failed.push(g.as_str());
                    }
                }
                if failed.is_empty() {
                    Ok(())
                } else {
                    Err(anyhow!("cannot describe group(s): {}", failed.join(", ")))
                }
            }
            GroupsCommand::Delete { groups, connect } => {
                let s = Session::connect(&connect).await?;
                delete(&s, &groups).await
            }
        }
    })
}

async fn list(s: &Session) -> anyhow::Result<()> {
    let groups = s.admin.list_groups().await.map_err(|e| s.error(e))?;
    if groups.is_empty() {
        return Ok(());
    }
    let mut table = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE"]);
    for g in groups {
        table.row(vec![
            g.group_id,
            if g.state.is_empty() {
                "-".into()
            } else {
                g.state
            },
            if g.protocol_type.is_empty() {
                "-".into()
            } else {
                g.protocol_type
            },
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

/// Who a partition is assigned to: `(member id, host, client id)`.
type Owner = (String, String, String);

async fn describe(s: &Session, group: &str) -> anyhow::Result<()> {
    let descriptions = s
        .admin
        .describe_groups(&[group])
        .await
        .map_err(|e| s.error(e))?;
    let d = match descriptions.get(group) {
        Some(Ok(d)) => d.clone(),
        Some(Err(e)) => return Err(anyhow!("consumer group `{group}`: {e}")),
        None => {
            return Err(anyhow!(
                "consumer group `{group}`: the broker did not answer"
            ))
        }
    };
    let committed = s
        .admin
        .list_consumer_group_offsets(group, None)
        .await
        .map_err(|e| s.error(e))?;
    if d.state == "Dead" && committed.is_empty() && d.members.is_empty() {
        return Err(anyhow!(
            "consumer group `{group}` does not exist (GROUP_ID_NOT_FOUND)"
        ));
    }
    let mut owners: BTreeMap<TopicPartition, Owner> = BTreeMap::new();
    for m in &d.members {
        for tp in &m.assignment {
            owners.insert(
                tp.clone(),
                (
                    m.member_id.clone(),
                    m.client_host.clone(),
                    m.client_id.clone(),
                ),
            );
        }
    }
    let mut partitions: Vec<TopicPartition> = committed.keys().cloned().collect();
    partitions.extend(owners.keys().cloned());
    partitions.sort();
    partitions.dedup();
    let specs: Vec<(TopicPartition, OffsetSpec)> = partitions
        .iter()
        .map(|tp| (tp.clone(), OffsetSpec::Latest))
        .collect();
    let ends = if specs.is_empty() {
        BTreeMap::new()
    } else {
        s.admin.list_offsets(&specs).await.map_err(|e| s.error(e))?
    };

    println!(
        "Group: {group}  State: {}  Protocol: {}  Coordinator: {}  Members: {}",
        or_dash(&d.state),
        or_dash(&d.protocol),
        d.coordinator,
        d.members.len()
    );
    if d.members.is_empty() {
        println!("Consumer group '{group}' has no active members.");
    }
    println!();
    let mut table = Table::new(&[
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]);
    for tp in &partitions {
        let current = committed.get(tp).map(|c| c.offset);
        let end = match ends.get(tp) {
            Some(Ok(o)) if o.offset >= 0 => Some(o.offset),
            _ => None,
        };
        let lag = match (current, end) {
            (Some(c), Some(e)) => Some((e - c).max(0)),
            _ => None,
        };
        let (member, host, client) = owners
            .get(tp)
            .cloned()
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        table.row(vec![
            group.to_owned(),
            tp.topic.clone(),
            tp.partition.to_string(),
            opt(current),
            opt(end),
            opt(lag),
            member,
            host,
            client,
        ]);
    }
    if partitions.is_empty() {
        println!("Consumer group '{group}' has no committed offsets and no assigned partitions.");
    } else {
        print!("{}", table.render());
    }
    if !d.members.is_empty() {
        println!();
        let mut members = Table::new(&[
            "CONSUMER-ID",
            "GROUP-INSTANCE-ID",
            "HOST",
            "CLIENT-ID",
            "#PARTITIONS",
        ]);
        for m in &d.members {
            members.row(vec![
                m.member_id.clone(),
                m.group_instance_id.clone().unwrap_or_else(|| "-".into()),
                m.client_host.clone(),
                m.client_id.clone(),
                m.assignment.len().to_string(),
            ]);
        }
        print!("{}", members.render());
    }
    Ok(())
}

async fn delete(s: &Session, groups: &[String]) -> anyhow::Result<()> {
    let refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    let results = s.admin.delete_groups(&refs).await.map_err(|e| s.error(e))?;
    let mut failed = Vec::new();
    for g in groups {
        match results.get(g) {
            Some(Ok(())) => println!("Deleted consumer group {g}."),
            Some(Err(e)) => failed.push(format!("cannot delete consumer group `{g}`: {e}")),
            None => failed.push(format!(
                "cannot delete consumer group `{g}`: the broker did not answer"
            )),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(failed.join("; ")))
    }
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}
