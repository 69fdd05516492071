//! Word count on the test driver: the DSL, repartitioning, aggregation, caching and
//! `describe()` together.

use brook_streams::{
    Consumed, Grouped, Materialized, Produced, Serdes, StreamsBuilder, TopologyTestDriver,
};

fn word_count() -> brook_streams::Topology {
    let builder = StreamsBuilder::new();
    let lines =
        builder.stream::<(), String>(&["lines"], Consumed::with(Serdes::void(), Serdes::string()));
    lines
        .flat_map_values(|line: String| {
            line.to_lowercase()
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .group_by(
            |_, word: &String| word.clone(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_store("counts"))
        .to_stream()
        .to("counts", Produced::default());
    builder.build().unwrap()
}

#[test]
fn counts_words_through_a_repartition_topic() {
    let topology = word_count();
    let text = topology.describe().to_string();
    assert!(text.contains("Sub-topology: 0"), "{text}");
    assert!(text.contains("Sub-topology: 1"), "{text}");
    assert!(text.contains("counts-repartition"), "{text}");
    assert!(text.contains("(stores: [counts])"), "{text}");
    assert_eq!(topology.sub_topologies().len(), 2);

    let driver = TopologyTestDriver::new(topology).unwrap();
    let mut input = driver.create_input_topic("lines", Serdes::void(), Serdes::string());
    let output =
        driver.create_output_topic("counts", Serdes::string(), Serdes::optional(Serdes::i64()));
    input
        .pipe_input_at((), "the cat and the hat".into(), 10)
        .unwrap();
    input.pipe_input_at((), "The end".into(), 20).unwrap();
    let out = output.read_key_values_to_list().unwrap();
    assert_eq!(
        out,
        vec![
            ("the".to_string(), Some(1)),
            ("cat".to_string(), Some(1)),
            ("and".to_string(), Some(1)),
            ("the".to_string(), Some(2)),
            ("hat".to_string(), Some(1)),
            ("the".to_string(), Some(3)),
            ("end".to_string(), Some(1)),
        ]
    );
    let store = driver
        .timestamped_key_value_store::<String, i64>("counts")
        .unwrap();
    assert_eq!(store.get(&"the".to_string()).unwrap(), Some((3, 20)));
    // Every update went to the store's changelog, keyed by word, as the timestamped store
    // holds it: the 8-byte timestamp, then the count.
    let changelog = driver.create_output_topic(
        "test-app-counts-changelog",
        Serdes::string(),
        Serdes::byte_array(),
    );
    let logged = changelog.read_key_values_to_list().unwrap();
    assert_eq!(logged.len(), 7);
    let (word, last) = logged.last().unwrap();
    assert_eq!(word, "end");
    assert_eq!(&last[..8], &20i64.to_be_bytes());
    assert_eq!(&last[8..], &1i64.to_be_bytes());
    driver.close().unwrap();
}
