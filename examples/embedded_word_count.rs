//! Word count with the broker embedded in the application: no sockets, no separate server.
//!
//! `cargo run --example embedded_word_count` starts a broker in this process, runs the
//! streams runtime against it through the in-process transport, pipes a few lines, prints
//! the counts and exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use brook::embedded::InProcessConnector;
use brook_broker::server::{Broker, BrokerConfig};
use brook_client::{
    Admin, AdminConfig, Cluster, NewTopic, Producer, ProducerConfig, ProducerRecord,
};
use brook_streams::{
    Consumed, Grouped, KafkaStreams, Materialized, Produced, Serdes, StreamsBuilder, StreamsConfig,
};

const LINES: &[&str] = &[
    "all streams flow to the sea",
    "yet the sea is not full",
    "to the place the streams come from",
    "there they return again",
];

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // The I/O runtime of this program's own clients (the streams runtime has its own).
    let rt = tokio::runtime::Runtime::new()?;

    // 1. A broker in this process.
    let mut broker_config = BrokerConfig::default();
    broker_config.set("group.initial.rebalance.delay.ms", "0")?;
    let broker = {
        let _in_runtime = rt.enter();
        Arc::new(Broker::open(
            &dir.path().join("broker"),
            broker_config,
            ("embedded".into(), 9092),
        )?)
    };
    let connector = Arc::new(InProcessConnector::new(broker.clone(), "word-count"));
    let cluster =
        Arc::new(rt.block_on(Cluster::connect(&connector.bootstrap(), connector.clone()))?);
    let admin = Admin::with_cluster(cluster.clone(), AdminConfig::default());
    rt.block_on(admin.create_topics(
        &[NewTopic::new("lines", 2, 1), NewTopic::new("counts", 2, 1)],
        false,
    ))?;

    // 2. The application.
    let builder = StreamsBuilder::new();
    builder
        .stream::<(), String>(&["lines"], Consumed::with(Serdes::void(), Serdes::string()))
        .flat_map_values(|line: String| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .group_by(
            |_, word: &String| word.clone(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_store("counts"))
        .to_stream()
        .to(
            "counts",
            Produced::with(Serdes::string(), Serdes::optional(Serdes::i64())),
        );
    let mut config = StreamsConfig::new("word-count", &connector.bootstrap());
    config.state_dir = dir.path().join("state");
    config.commit_interval = Duration::from_millis(100);
    let streams = KafkaStreams::with_connector(builder.build()?, config, connector.clone())?;
    streams.start()?;

    // 3. Some input.
    rt.block_on(async {
        let producer = Producer::with_cluster(cluster.clone(), ProducerConfig::default())?;
        for line in LINES {
            producer
                .send(ProducerRecord::new(
                    "lines",
                    line.as_bytes().to_vec().into(),
                ))
                .await?;
        }
        producer.close(Duration::from_secs(5)).await
    })?;

    // 4. Wait until every word is counted, then print the counts.
    let words: i64 = LINES
        .iter()
        .map(|l| l.split_whitespace().count() as i64)
        .sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counts = loop {
        let counts = streams.store_key_value::<String, i64>("counts")?;
        if counts.iter().map(|(_, n)| n).sum::<i64>() == words {
            break counts;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the words were not all counted in time"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (word, n) in counts {
        println!("{word:>8} {n}");
    }

    streams.close();
    broker.close().context("closing the broker")?;
    Ok(())
}
