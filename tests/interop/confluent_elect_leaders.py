"""confluent-kafka's AdminClient.elect_leaders (ElectLeaders, API key 43) against one Brook
broker: a preferred election of a partition its only replica leads answers
ELECTION_NOT_NEEDED; an unclean election of a partition that does not exist answers
UNKNOWN_TOPIC_OR_PARTITION; a preferred election of every partition (None) answers with no
partition at all.

Usage: confluent_elect_leaders.py BOOTSTRAP TOPIC

Prints one JSON line on stdout, the summary tests/interop.rs asserts on.
"""

import json
import sys

from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 30


def codes(result):
    """{"topic-partition": error name or None} of an elect_leaders result."""
    return {
        "%s-%d" % (tp.topic, tp.partition): (None if err is None else err.name())
        for tp, err in sorted(result.items(), key=lambda kv: (kv[0].topic, kv[0].partition))
    }


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(TIMEOUT_S)
    summary = {}
    preferred = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)])
    summary["preferred"] = codes(preferred.result(TIMEOUT_S))
    unclean = admin.elect_leaders(ElectionType.UNCLEAN, [TopicPartition(topic, 9)])
    summary["unclean_unknown"] = codes(unclean.result(TIMEOUT_S))
    everything = admin.elect_leaders(ElectionType.PREFERRED, None)
    summary["all"] = codes(everything.result(TIMEOUT_S))
    print(json.dumps(summary, sort_keys=True))


if __name__ == "__main__":
    main()
