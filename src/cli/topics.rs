//! `brook topics create|list|describe|alter|delete`, like `kafka-topics.sh`, and
//! `brook topics elect-leaders`, like `kafka-leader-election.sh`.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use brook_client::admin::AlterConfigOp;
use brook_client::{ConfigResource, ElectionType, ErrorCode, NewTopic, TopicPartition};

use super::{block_on, id_list, parse_key_value, topic_id, ConnectArgs, Session, Table};

#[derive(clap::Subcommand, Debug)]
pub enum TopicsCommand {
    /// Create a topic.
    Create {
        name: String,
        /// The number of partitions (default: the broker's `num.partitions`).
        #[arg(long)]
        partitions: Option<i32>,
        /// The replication factor (default: the broker's `default.replication.factor`).
        #[arg(long)]
        replication_factor: Option<i16>,
        /// A topic config `key=value`, e.g. `cleanup.policy=compact`. May be repeated.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// List the topics, one per line.
    List {
        /// Also list internal topics (`__consumer_offsets`, ...).
        #[arg(long)]
        internal: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Describe topics (all of them without names): partitions, leaders, replicas, ISR and
    /// the configs that are not defaults.
    Describe {
        names: Vec<String>,
        /// With no names, also describe internal topics.
        #[arg(long)]
        internal: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Add partitions to a topic, or change or remove its configs.
    Alter {
        name: String,
        /// The new total number of partitions (it can only grow).
        #[arg(long)]
        partitions: Option<i32>,
        /// Set a topic config `key=value`. May be repeated.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Remove a topic config override, reverting to the default. May be repeated.
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Delete topics.
    Delete {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Elect partition leaders, like `kafka-leader-election.sh`: `preferred` gives each
    /// partition back to its first replica where that is live and in sync; `unclean` gives
    /// a partition without a leader any live replica, in sync or not (what it lacks is lost).
    ElectLeaders {
        #[arg(long, value_enum, default_value = "preferred")]
        election_type: ElectionKind,
        /// The topic whose partitions to elect (all of them unless `--partition`).
        #[arg(long, required_unless_present = "all_topic_partitions")]
        topic: Option<String>,
        /// A partition of `--topic`. May be repeated.
        #[arg(long, requires = "topic")]
        partition: Vec<i32>,
        /// Every partition of every topic.
        #[arg(long, conflicts_with = "topic")]
        all_topic_partitions: bool,
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// `--election-type`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionKind {
    Preferred,
    Unclean,
}

pub fn run(command: TopicsCommand) -> anyhow::Result<()> {
    block_on(async move {
        match command {
            TopicsCommand::Create {
                name,
                partitions,
                replication_factor,
                configs,
                connect,
            } => {
                let s = Session::connect(&connect).await?;
                create(&s, name, partitions, replication_factor, configs).await
            }
            TopicsCommand::List { internal, connect } => {
                let s = Session::connect(&connect).await?;
                let names = s
                    .admin
                    .list_topics(internal)
                    .await
                    .map_err(|e| s.error(e))?;
                for n in names {
                    println!("{n}");
                }
                Ok(())
            }
            TopicsCommand::Describe {
                names,
                internal,
                connect,
            } => {
                let s = Session::connect(&connect).await?;
                describe(&s, names, internal).await
            }
            TopicsCommand::Alter {
                name,
                partitions,
                configs,
                delete_configs,
                connect,
            } => {
                if partitions.is_none() && configs.is_empty() && delete_configs.is_empty() {
                    bail!("nothing to alter: give --partitions, --config or --delete-config");
                }
                let s = Session::connect(&connect).await?;
                alter(&s, name, partitions, configs, delete_configs).await
            }
            TopicsCommand::Delete { names, connect } => {
                let s = Session::connect(&connect).await?;
                delete(&s, names).await
            }
            TopicsCommand::ElectLeaders {
                election_type,
                topic,
                partition,
                all_topic_partitions: _,
                connect,
            } => {
                let s = Session::connect(&connect).await?;
                elect_leaders(&s, election_type, topic, partition).await
            }
        }
    })
}

async fn create(
    s: &Session,
    name: String,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let mut topic = NewTopic::new(
        name.clone(),
        partitions.unwrap_or(-1),
        replication_factor.unwrap_or(-1),
    );
    topic.configs = configs.into_iter().collect();
    let results = s
        .admin
        .create_topics(&[topic], false)
        .await
        .map_err(|e| s.error(e))?;
    match results.get(&name) {
        Some(Ok(_)) => {
            println!("Created topic {name}.");
            Ok(())
        }
        Some(Err(e)) => Err(anyhow!("cannot create topic `{name}`: {e}")),
        None => Err(anyhow!(
            "cannot create topic `{name}`: the broker did not answer for it"
        )),
    }
}

async fn describe(s: &Session, names: Vec<String>, internal: bool) -> anyhow::Result<()> {
    let names = if names.is_empty() {
        s.admin
            .list_topics(internal)
            .await
            .map_err(|e| s.error(e))?
    } else {
        names
    };
    if names.is_empty() {
        return Ok(());
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let topics = s
        .admin
        .describe_topics(&refs)
        .await
        .map_err(|e| s.error(e))?;
    let resources: Vec<ConfigResource> = names
        .iter()
        .filter(|n| matches!(topics.get(*n), Some(Ok(_))))
        .map(|n| ConfigResource::Topic(n.clone()))
        .collect();
    let configs = if resources.is_empty() {
        BTreeMap::new()
    } else {
        s.admin
            .describe_configs(&resources)
            .await
            .map_err(|e| s.error(e))?
    };
    let mut failed: Vec<String> = Vec::new();
    let mut first = true;
    for name in &names {
        let t = match topics.get(name) {
            Some(Ok(t)) => t,
            Some(Err(e)) if e.code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
                failed.push(format!("unknown topic `{name}` ({e})"));
                continue;
            }
            Some(Err(e)) => {
                failed.push(format!("cannot describe topic `{name}`: {e}"));
                continue;
            }
            None => {
                failed.push(format!("unknown topic `{name}`"));
                continue;
            }
        };
        let overrides: Vec<String> = match configs.get(&ConfigResource::Topic(name.clone())) {
            Some(Ok(entries)) => entries
                .iter()
                .filter(|c| !c.is_default())
                .map(|c| {
                    let v = if c.is_sensitive {
                        "<sensitive>"
                    } else {
                        c.value.as_deref().unwrap_or("")
                    };
                    format!("{}={v}", c.name)
                })
                .collect(),
            Some(Err(e)) => vec![format!("<{e}>")],
            None => Vec::new(),
        };
        let replication = t.partitions.first().map_or(0, |p| p.replicas.len());
        if !first {
            println!();
        }
        first = false;
        println!(
            "Topic: {}  TopicId: {}  PartitionCount: {}  ReplicationFactor: {}  Configs: {}",
            t.name,
            topic_id(&t.topic_id.0),
            t.partitions.len(),
            replication,
            overrides.join(",")
        );
        let mut table = Table::new(&["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"]);
        for p in &t.partitions {
            let mut leader = p.leader.map_or("none".to_owned(), |l| l.to_string());
            if let Some(e) = &p.error {
                leader = format!("{leader} ({})", e.code.name());
            }
            table.row(vec![
                t.name.clone(),
                p.partition.to_string(),
                leader,
                id_list(&p.replicas),
                id_list(&p.isr),
            ]);
        }
        print!("{}", table.render());
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(failed.join("; ")))
    }
}

async fn alter(
    s: &Session,
    name: String,
    partitions: Option<i32>,
    configs: Vec<(String, String)>,
    delete_configs: Vec<String>,
) -> anyhow::Result<()> {
    // Check the topic first, so an unknown topic gets one clear message.
    let topics = s
        .admin
        .describe_topics(&[name.as_str()])
        .await
        .map_err(|e| s.error(e))?;
    let current = match topics.get(&name) {
        Some(Ok(t)) => t.partitions.len(),
        Some(Err(e)) => return Err(anyhow!("unknown topic `{name}` ({e})")),
        None => return Err(anyhow!("unknown topic `{name}`")),
    };
    if let Some(n) = partitions {
        if usize::try_from(n).is_ok_and(|n| n == current) {
            println!("Topic {name} already has {n} partitions.");
        } else {
            let results = s
                .admin
                .create_partitions(&[(name.as_str(), n)], false)
                .await
                .map_err(|e| s.error(e))?;
            match results.get(&name) {
                Some(Ok(())) => println!("Increased the partition count of {name} to {n}."),
                Some(Err(e)) => {
                    return Err(anyhow!("cannot change the partitions of `{name}`: {e}"))
                }
                None => {
                    return Err(anyhow!(
                        "cannot change the partitions of `{name}`: the broker did not answer"
                    ))
                }
            }
        }
    }
    if !configs.is_empty() || !delete_configs.is_empty() {
        let mut ops: Vec<AlterConfigOp> = configs
            .iter()
            .map(|(k, v)| AlterConfigOp::Set(k.clone(), v.clone()))
            .collect();
        ops.extend(delete_configs.iter().cloned().map(AlterConfigOp::Delete));
        let resource = ConfigResource::Topic(name.clone());
        let results = s
            .admin
            .incremental_alter_configs(&[(resource.clone(), ops)], false)
            .await
            .map_err(|e| s.error(e))?;
        match results.get(&resource) {
            Some(Ok(())) => {
                let mut changes: Vec<String> =
                    configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                changes.extend(delete_configs.iter().map(|k| format!("-{k}")));
                println!("Updated the configs of {name}: {}.", changes.join(", "));
            }
            Some(Err(e)) => return Err(anyhow!("cannot change the configs of `{name}`: {e}")),
            None => {
                return Err(anyhow!(
                    "cannot change the configs of `{name}`: the broker did not answer"
                ))
            }
        }
    }
    Ok(())
}

async fn delete(s: &Session, names: Vec<String>) -> anyhow::Result<()> {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = s.admin.delete_topics(&refs).await.map_err(|e| s.error(e))?;
    let mut failed: Vec<String> = Vec::new();
    for name in &names {
        match results.get(name) {
            Some(Ok(())) => println!("Deleted topic {name}."),
            Some(Err(e)) if e.code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => {
                failed.push(format!("unknown topic `{name}` ({e})"));
            }
            Some(Err(e)) => failed.push(format!("cannot delete topic `{name}`: {e}")),
            None => failed.push(format!(
                "cannot delete topic `{name}`: the broker did not answer"
            )),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!(failed.join("; ")))
    }
}

async fn elect_leaders(
    s: &Session,
    kind: ElectionKind,
    topic: Option<String>,
    partitions: Vec<i32>,
) -> anyhow::Result<()> {
    let (election, label) = match kind {
        ElectionKind::Preferred => (ElectionType::Preferred, "PREFERRED"),
        ElectionKind::Unclean => (ElectionType::Unclean, "UNCLEAN"),
    };
    let wanted: Option<Vec<TopicPartition>> = match topic {
        None => None,
        Some(t) if !partitions.is_empty() => Some(
            partitions
                .iter()
                .map(|p| TopicPartition::new(t.clone(), *p))
                .collect(),
        ),
        Some(t) => {
            let described = s
                .admin
                .describe_topics(&[t.as_str()])
                .await
                .map_err(|e| s.error(e))?;
            match described.get(&t) {
                Some(Ok(m)) => Some(
                    m.partitions
                        .iter()
                        .map(|p| TopicPartition::new(t.clone(), p.partition))
                        .collect(),
                ),
                Some(Err(e)) => bail!("cannot describe topic `{t}`: {e}"),
                None => bail!("unknown topic `{t}`"),
            }
        }
    };
    let results = s
        .admin
        .elect_leaders(election, wanted.as_deref())
        .await
        .map_err(|e| s.error(e))?;
    let mut elected = Vec::new();
    let mut not_needed = Vec::new();
    let mut failed = Vec::new();
    for (tp, r) in &results {
        match r {
            Ok(()) => elected.push(tp.to_string()),
            Err(e) if e.code == ErrorCode::ELECTION_NOT_NEEDED => not_needed.push(tp.to_string()),
            Err(e) => failed.push(format!("{tp}: {e}")),
        }
    }
    if !elected.is_empty() {
        println!(
            "Successfully completed leader election ({label}) for partitions {}",
            elected.join(", ")
        );
    }
    if !not_needed.is_empty() {
        println!(
            "Valid replica already elected for partitions {}",
            not_needed.join(", ")
        );
    }
    if results.is_empty() {
        println!("No partition needed an election.");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(anyhow!("leader election failed: {}", failed.join("; ")))
    }
}
