//! `brook groups list|describe|delete|reset-offsets`, like `kafka-consumer-groups.sh`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use brook_client::{Consumer, ConsumerConfig, OffsetSpec, TopicPartition};

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
    /// Reset the committed offsets of an inactive group (no members): prints the plan,
    /// and commits it only with --execute.
    ResetOffsets(ResetOffsetsArgs),
}

/// The arguments of `brook groups reset-offsets`, those of Kafka's
/// `kafka-consumer-groups.sh --reset-offsets`.
#[derive(clap::Args, Debug)]
#[command(
    group(clap::ArgGroup::new("scope").required(true).multiple(false)
        .args(["topics", "all_topics"])),
    group(clap::ArgGroup::new("spec").required(true).multiple(false)
        .args(["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime",
               "by_duration", "to_current"])),
)]
pub struct ResetOffsetsArgs {
    /// The consumer group whose offsets to reset.
    #[arg(value_name = "GROUP")]
    pub group: String,
    /// A topic, all its partitions, or some: `orders:0,2`. May be repeated.
    #[arg(long = "topic", value_name = "TOPIC[:P,P...]")]
    pub topics: Vec<String>,
    /// Every topic the group has committed offsets for.
    #[arg(long)]
    pub all_topics: bool,
    /// To the log start offset.
    #[arg(long)]
    pub to_earliest: bool,
    /// To the log end offset.
    #[arg(long)]
    pub to_latest: bool,
    /// To this offset (clamped to the log start and end).
    #[arg(long, value_name = "OFFSET", allow_negative_numbers = true)]
    pub to_offset: Option<i64>,
    /// Moves the committed offset by N (negative: back), clamped to the log start and end.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
    /// To the first offset with a timestamp at or after this time,
    /// `YYYY-MM-DDTHH:mm:SS[.sss][Z|+hh:mm|-hh:mm]` (UTC without a zone).
    #[arg(long, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
    /// To the first offset with a timestamp at or after this long ago, an ISO-8601
    /// duration `PnDTnHnMnS` (e.g. `PT30M`, `P1DT12H`).
    #[arg(long, value_name = "DURATION")]
    pub by_duration: Option<String>,
    /// To the committed offset (partitions without one: the log end).
    #[arg(long)]
    pub to_current: bool,
    /// Only print the new offsets (the default).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// Commit the new offsets.
    #[arg(long)]
    pub execute: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
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
            GroupsCommand::ResetOffsets(args) => reset_offsets(&args).await,
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

/// How `reset-offsets` picks each partition's new offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetSpec {
    Earliest,
    Latest,
    Offset(i64),
    ShiftBy(i64),
    /// The first offset at or after this timestamp (ms since the epoch).
    Timestamp(i64),
    Current,
}

impl ResetSpec {
    fn from_args(args: &ResetOffsetsArgs) -> anyhow::Result<ResetSpec> {
        Ok(if args.to_earliest {
            ResetSpec::Earliest
        } else if args.to_latest {
            ResetSpec::Latest
        } else if let Some(n) = args.to_offset {
            ResetSpec::Offset(n)
        } else if let Some(n) = args.shift_by {
            ResetSpec::ShiftBy(n)
        } else if let Some(t) = &args.to_datetime {
            ResetSpec::Timestamp(
                parse_datetime(t).map_err(|e| anyhow!("invalid --to-datetime `{t}`: {e}"))?,
            )
        } else if let Some(d) = &args.by_duration {
            let ms =
                parse_duration_ms(d).map_err(|e| anyhow!("invalid --by-duration `{d}`: {e}"))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            ResetSpec::Timestamp(now.saturating_sub(ms).max(0))
        } else if args.to_current {
            ResetSpec::Current
        } else {
            // clap requires one of the options above.
            return Err(anyhow!(
                "one of --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime, \
                 --by-duration or --to-current is required"
            ));
        })
    }
}

/// `TOPIC` or `TOPIC:P,P...`: the topic and, if given, its partitions.
fn parse_topic_arg(arg: &str) -> anyhow::Result<(String, Option<Vec<i32>>)> {
    let (topic, partitions) = match arg.split_once(':') {
        None => (arg, None),
        Some((topic, list)) => {
            let mut partitions = Vec::new();
            for p in list.split(',') {
                match p.trim().parse::<i32>() {
                    Ok(n) if n >= 0 => partitions.push(n),
                    _ => {
                        return Err(anyhow!(
                            "invalid --topic `{arg}`: expected TOPIC or TOPIC:P,P... with \
                             partition numbers, got `{p}`"
                        ))
                    }
                }
            }
            (topic, Some(partitions))
        }
    };
    if topic.trim().is_empty() {
        return Err(anyhow!("invalid --topic `{arg}`: the topic name is empty"));
    }
    Ok((topic.trim().to_owned(), partitions))
}

async fn reset_offsets(args: &ResetOffsetsArgs) -> anyhow::Result<()> {
    // Arguments are checked before anything is asked of the broker.
    let spec = ResetSpec::from_args(args)?;
    let topic_args = args
        .topics
        .iter()
        .map(|t| parse_topic_arg(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let group = args.group.as_str();
    let s = Session::connect(&args.connect).await?;

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
    let inactive = match d.state.as_str() {
        "Empty" | "Dead" => true,
        "" => d.members.is_empty(),
        _ => false,
    };
    if !inactive {
        return Err(anyhow!(
            "Assignments can only be reset if the group `{group}` is inactive, but the current \
             state is {} ({} member(s)); stop its consumers first",
            or_dash(&d.state),
            d.members.len()
        ));
    }

    let committed = s
        .admin
        .list_consumer_group_offsets(group, None)
        .await
        .map_err(|e| s.error(e))?;
    let mut partitions: BTreeSet<TopicPartition> = BTreeSet::new();
    if args.all_topics {
        partitions.extend(committed.keys().cloned());
        if partitions.is_empty() {
            return Err(anyhow!(
                "consumer group `{group}` has no committed offsets: name the topics with --topic"
            ));
        }
    } else {
        let names: Vec<&str> = topic_args.iter().map(|(t, _)| t.as_str()).collect();
        let described = s
            .admin
            .describe_topics(&names)
            .await
            .map_err(|e| s.error(e))?;
        for (topic, wanted) in &topic_args {
            let t = match described.get(topic) {
                Some(Ok(t)) => t,
                Some(Err(e)) => return Err(anyhow!("unknown topic `{topic}` ({e})")),
                None => return Err(anyhow!("unknown topic `{topic}`")),
            };
            match wanted {
                None => partitions.extend(
                    t.partitions
                        .iter()
                        .map(|p| TopicPartition::new(topic.clone(), p.partition)),
                ),
                Some(ps) => {
                    for &p in ps {
                        if t.partition(p).is_none() {
                            return Err(anyhow!(
                                "topic `{topic}` has no partition {p} (it has {})",
                                t.partitions.len()
                            ));
                        }
                        partitions.insert(TopicPartition::new(topic.clone(), p));
                    }
                }
            }
        }
    }

    let starts = offsets_of(&s, &partitions, OffsetSpec::Earliest).await?;
    let ends = offsets_of(&s, &partitions, OffsetSpec::Latest).await?;
    let at_time = match spec {
        ResetSpec::Timestamp(t) => offsets_of(&s, &partitions, OffsetSpec::Timestamp(t)).await?,
        _ => BTreeMap::new(),
    };
    let mut plan: Vec<(TopicPartition, i64)> = Vec::new();
    for tp in &partitions {
        let (start, end) = (starts[tp], ends[tp].max(starts[tp]));
        let current = committed.get(tp).map(|c| c.offset);
        let target = match spec {
            ResetSpec::Earliest => start,
            ResetSpec::Latest => end,
            ResetSpec::Offset(n) => n,
            ResetSpec::ShiftBy(n) => current
                .ok_or_else(|| {
                    anyhow!(
                        "cannot shift the offset of {tp}: consumer group `{group}` has no \
                         committed offset there"
                    )
                })?
                .saturating_add(n),
            // No record that recent: the log end, as Kafka does.
            ResetSpec::Timestamp(_) => at_time.get(tp).copied().filter(|o| *o >= 0).unwrap_or(end),
            ResetSpec::Current => current.unwrap_or(end),
        };
        plan.push((tp.clone(), target.clamp(start, end)));
    }

    if !args.execute && !args.dry_run {
        eprintln!(
            "WARN: no action is performed without --execute; this is a dry run (add --dry-run \
             to say so, or --execute to commit the new offsets)."
        );
    }
    if args.execute {
        let mut config = ConsumerConfig::new(s.bootstrap.clone());
        config.group_id = Some(group.to_owned());
        config.client_id = "brook-cli".into();
        let committer = Consumer::with_cluster(s.admin.cluster().clone(), config);
        committer.commit_sync(&plan).await.map_err(|e| s.error(e))?;
    }
    let mut table = Table::new(&["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]);
    for (tp, offset) in &plan {
        table.row(vec![
            group.to_owned(),
            tp.topic.clone(),
            tp.partition.to_string(),
            offset.to_string(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

/// ListOffsets for every partition of `partitions`; any partition's error fails the whole
/// lookup, naming the partition.
async fn offsets_of(
    s: &Session,
    partitions: &BTreeSet<TopicPartition>,
    spec: OffsetSpec,
) -> anyhow::Result<BTreeMap<TopicPartition, i64>> {
    let specs: Vec<(TopicPartition, OffsetSpec)> =
        partitions.iter().map(|tp| (tp.clone(), spec)).collect();
    let found = s.admin.list_offsets(&specs).await.map_err(|e| s.error(e))?;
    let mut out = BTreeMap::new();
    for tp in partitions {
        match found.get(tp) {
            Some(Ok(o)) => {
                out.insert(tp.clone(), o.offset);
            }
            Some(Err(e)) => return Err(anyhow!("cannot look up the offsets of {tp}: {e}")),
            None => {
                return Err(anyhow!(
                    "cannot look up the offsets of {tp}: the broker did not answer"
                ))
            }
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses `YYYY-MM-DDTHH:mm:SS[.fraction][Z|±hh:mm|±hhmm|±hh]` (UTC without a zone) into
/// milliseconds since the epoch.
fn parse_datetime(s: &str) -> Result<i64, String> {
    const FORMAT: &str = "expected YYYY-MM-DDTHH:mm:SS[.sss][Z|+hh:mm]";
    let b = s.trim().as_bytes();
    let digits = |from: usize, n: usize| -> Result<i64, String> {
        let part = b.get(from..from + n).ok_or(FORMAT)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(FORMAT.into());
        }
        Ok(part.iter().fold(0, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, c: &[u8]| -> Result<(), String> {
        match b.get(at) {
            Some(x) if c.contains(x) => Ok(()),
            _ => Err(FORMAT.into()),
        }
    };
    let year = digits(0, 4)?;
    sep(4, b"-")?;
    let month = digits(5, 2)?;
    sep(7, b"-")?;
    let day = digits(8, 2)?;
    sep(10, b"Tt")?;
    let hour = digits(11, 2)?;
    sep(13, b":")?;
    let minute = digits(14, 2)?;
    sep(16, b":")?;
    let second = digits(17, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("no such date {year:04}-{month:02}-{day:02}"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("no such time {hour:02}:{minute:02}:{second:02}"));
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err(FORMAT.into());
        }
        let frac = &b[i..i + n];
        for k in 0..3 {
            millis = millis * 10 + frac.get(k).map_or(0, |d| i64::from(d - b'0'));
        }
        i += n;
    }
    let offset_minutes = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = &b[i + 1..];
            let (h, m) = match rest.len() {
                2 => (digits(i + 1, 2)?, 0),
                4 => (digits(i + 1, 2)?, digits(i + 3, 2)?),
                5 if rest[2] == b':' => (digits(i + 1, 2)?, digits(i + 4, 2)?),
                _ => return Err(FORMAT.into()),
            };
            if h > 18 || m > 59 {
                return Err(format!("invalid zone offset in `{s}`"));
            }
            let m = h * 60 + m;
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return Err(FORMAT.into()),
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_minutes * 60;
    Ok(seconds * 1_000 + millis)
}

/// Parses an ISO-8601 duration as Java's `Duration.parse` does, `[-]PnDTnHnMn[.n]S` (each
/// number may carry a sign), into milliseconds.
fn parse_duration_ms(s: &str) -> Result<i64, String> {
    const FORMAT: &str = "expected an ISO-8601 duration PnDTnHnMnS, e.g. PT30M or P1DT12H";
    let upper = s.trim().to_ascii_uppercase();
    let (negative, rest) = match upper.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, upper.strip_prefix('+').unwrap_or(&upper)),
    };
    let rest = rest.strip_prefix('P').ok_or(FORMAT)?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Err(FORMAT.into()),
        None => (rest, None),
    };
    let mut total: i128 = 0;
    let mut any = false;
    // (unit letter, milliseconds per unit), in the order they must appear.
    let mut take = |mut part: &str, units: &[(char, i128)]| -> Result<(), String> {
        let mut next_unit = 0;
        while !part.is_empty() {
            let end = part.find(|c: char| c.is_ascii_alphabetic()).ok_or(FORMAT)?;
            let (number, unit) = (&part[..end], part[end..].chars().next().ok_or(FORMAT)?);
            let k = units[next_unit..]
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or(FORMAT)?
                + next_unit;
            next_unit = k + 1;
            let per = units[k].1;
            let value = match number.split_once(['.', ',']) {
                Some((whole, frac)) if unit == 'S' => {
                    if frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(FORMAT.into());
                    }
                    let w: i128 = whole.parse().map_err(|_| FORMAT)?;
                    let ms: i128 = format!("{frac:0<3}")[..3].parse().map_err(|_| FORMAT)?;
                    let sign = if whole.starts_with('-') { -1 } else { 1 };
                    w * per + sign * ms
                }
                Some(_) => return Err(FORMAT.into()),
                None => {
                    let n: i128 = number.parse().map_err(|_| FORMAT)?;
                    n * per
                }
            };
            total += value;
            any = true;
            part = &part[end + 1..];
        }
        Ok(())
    };
    take(date, &[('D', 86_400_000)])?;
    if let Some(t) = time {
        take(t, &[('H', 3_600_000), ('M', 60_000), ('S', 1_000)])?;
    }
    if !any {
        return Err(FORMAT.into());
    }
    let total = if negative { -total } else { total };
    i64::try_from(total).map_err(|_| format!("`{s}` is too long"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_like_kafka() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00"), Ok(0));
        assert_eq!(parse_datetime("1970-01-01T00:00:00.001Z"), Ok(1));
        assert_eq!(
            parse_datetime("2026-01-01T00:00:00.000"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(
            parse_datetime("2026-01-01T01:30:00+01:30"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(
            parse_datetime("2025-12-31T23:00:00-0100"),
            Ok(1_767_225_600_000)
        );
        assert_eq!(
            parse_datetime("2024-02-29T12:00:00.5Z"),
            Ok(1_709_208_000_500)
        );
        for bad in [
            "",
            "2026-01-01",
            "2026-13-01T00:00:00",
            "2025-02-29T00:00:00",
            "2026-01-01T24:00:00",
            "2026-01-01T00:00:00.",
            "2026-01-01T00:00:00X",
            "2026-01-01T00:00:00+1",
            "2026-01-01 00:00:00",
            "yesterday",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse_like_java() {
        assert_eq!(parse_duration_ms("PT30M"), Ok(1_800_000));
        assert_eq!(parse_duration_ms("P1DT12H"), Ok(129_600_000));
        assert_eq!(parse_duration_ms("P2D"), Ok(172_800_000));
        assert_eq!(parse_duration_ms("pt1.5s"), Ok(1_500));
        assert_eq!(parse_duration_ms("PT1H-10M"), Ok(3_000_000));
        assert_eq!(parse_duration_ms("-PT1S"), Ok(-1_000));
        assert_eq!(parse_duration_ms("P0DT0H0M0S"), Ok(0));
        for bad in [
            "", "P", "PT", "30M", "PT1D", "P1H", "PT1M1H", "PT1.5M", "PTxS", "P1DT",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topic_arguments_parse() {
        assert_eq!(parse_topic_arg("orders").unwrap(), ("orders".into(), None));
        assert_eq!(
            parse_topic_arg("orders:0,2").unwrap(),
            ("orders".into(), Some(vec![0, 2]))
        );
        for bad in ["", ":1", "orders:", "orders:a", "orders:-1", "orders:1,,2"] {
            assert!(parse_topic_arg(bad).is_err(), "{bad}");
        }
    }
}
