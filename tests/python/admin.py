"""Topic administration with kafka-python's admin client; prints what the broker answered.

Output lines: "create <topic> <error name or OK>", "describe <key>=<value>",
"delete_records <partition> <low watermark> <error code>", "topics <names>".
"""
import argparse

from kafka import KafkaAdminClient, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import KafkaError

parser = argparse.ArgumentParser()
parser.add_argument("--bootstrap", required=True)
args = parser.parse_args()

admin = KafkaAdminClient(bootstrap_servers=args.bootstrap, request_timeout_ms=10000)


def create(name, partitions, configs):
    try:
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
        print("create", name, "OK")
    except KafkaError as e:
        print("create", name, type(e).__name__)


create("cfg-ok", 2, {"retention.ms": "3600000", "max.message.bytes": "2000000"})
create("cfg-compact", 1, {"cleanup.policy": "compact"})
create("cfg-unknown", 1, {"no.such.config": "1"})
create("cfg-ok", 1, {})

result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "cfg-ok")])


def walk(node):
    """Prints every `key -> {"value": ...}` entry, whatever the client version's nesting."""
    if isinstance(node, dict):
        for key, entry in node.items():
            if isinstance(entry, dict) and "value" in entry:
                print("describe %s=%s" % (key, entry["value"]))
            else:
                walk(entry)
    elif isinstance(node, (list, tuple)):
        for item in node:
            walk(item)
    elif hasattr(node, "resources"):
        # kafka-python 2.x: DescribeConfigsResponse objects
        for res in node.resources:
            for entry in res[4]:
                print("describe %s=%s" % (entry[0], entry[1]))


walk(result)

# DeleteRecords: ten messages, everything below offset 6 deleted.
producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all")
for i in range(10):
    producer.send("cfg-ok", b"v%d" % i, partition=0)
producer.flush()
producer.close()
deleted = admin.delete_records({TopicPartition("cfg-ok", 0): 6})
for tp, meta in deleted.items():
    print("delete_records", tp.partition, meta["low_watermark"], meta["error_code"])
try:
    admin.delete_records({TopicPartition("cfg-ok", 0): 11})
    print("delete_records beyond OK")
except KafkaError as e:
    print("delete_records beyond", type(e).__name__)

admin.create_partitions({"cfg-ok": NewPartitions(total_count=4)})
admin.delete_topics(["cfg-ok"])
print("topics", ",".join(sorted(admin.list_topics())))
