"""Produce N numbered messages with kafka-python, then read the topic back from the start.

Prints one line per consumed record: "partition offset key value", then "produced N".
The Rust test decides whether that is right; this script only reports what happened.
"""
import argparse
import sys

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

parser = argparse.ArgumentParser()
parser.add_argument("--bootstrap", required=True)
parser.add_argument("--topic", required=True)
parser.add_argument("--partitions", type=int, default=1)
parser.add_argument("--acks", default="all")
parser.add_argument("--count", type=int, default=1000)
parser.add_argument("--idempotent", action="store_true")
parser.add_argument("--create-only-if-missing", action="store_true",
                    help="produce only (no read-back); create the topic unless it exists")
args = parser.parse_args()

acks = args.acks if args.acks == "all" else int(args.acks)

admin = KafkaAdminClient(bootstrap_servers=args.bootstrap, request_timeout_ms=10000)
if not (args.create_only_if_missing and args.topic in admin.list_topics()):
    admin.create_topics([NewTopic(args.topic, args.partitions, 1)])
admin.close()

producer_args = dict(bootstrap_servers=args.bootstrap, acks=acks, linger_ms=5, retries=5)
# kafka-python 3.x turns idempotence on by default; 2.2+ knows the option.
producer = KafkaProducer(enable_idempotence=args.idempotent, **producer_args)
futures = []
for i in range(args.count):
    key = b"k%d" % (i % 7)
    futures.append(producer.send(args.topic, key=key, value=b"v%d" % i))
producer.flush(timeout=60)
if acks != 0:
    for f in futures:
        f.get(timeout=60)
producer.close()
if args.create_only_if_missing:
    print("produced", args.count)
    sys.exit(0)

consumer = KafkaConsumer(
    bootstrap_servers=args.bootstrap,
    group_id=None,
    enable_auto_commit=False,
    consumer_timeout_ms=5000,
)
partitions = [TopicPartition(args.topic, p) for p in range(args.partitions)]
consumer.assign(partitions)
consumer.seek_to_beginning(*partitions)
seen = 0
for record in consumer:
    print(record.partition, record.offset, record.key.decode(), record.value.decode())
    seen += 1
    if seen >= args.count:
        break
consumer.close()
print("produced", args.count)
sys.stdout.flush()
