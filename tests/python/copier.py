"""Consume-transform-produce with kafka-python's transactional producer (exactly-once).

Reads --input with a read_committed group member, writes each value to the same partition
of --output inside a transaction, and commits the consumed offsets in that same
transaction (send_offsets_to_transaction). On any transactional error it aborts and rewinds
to the committed offsets. Stops after --idle-s without input (or --deadline-s). Prints
"copied N" per committed transaction, so a test can kill it mid-way.
"""
import argparse
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

parser = argparse.ArgumentParser()
parser.add_argument("--bootstrap", required=True)
parser.add_argument("--input", required=True)
parser.add_argument("--output", required=True)
parser.add_argument("--group", required=True)
parser.add_argument("--transactional-id", required=True)
parser.add_argument("--idle-s", type=float, default=6)
parser.add_argument("--deadline-s", type=float, default=120)
args = parser.parse_args()

consumer = KafkaConsumer(
    args.input,
    bootstrap_servers=args.bootstrap,
    group_id=args.group,
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    isolation_level="read_committed",
    session_timeout_ms=6000,
    heartbeat_interval_ms=1000,
    max_poll_records=50,
)
producer = KafkaProducer(
    bootstrap_servers=args.bootstrap,
    transactional_id=args.transactional_id,
    retries=20,
)
producer.init_transactions()


def rewind():
    """After an abort: go back to the committed offsets of what we hold."""
    for tp in consumer.assignment():
        committed = consumer.committed(tp)
        if committed is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)


start = time.time()
last_input = time.time()
while time.time() - start < args.deadline_s:
    batch = consumer.poll(timeout_ms=500)
    if not batch:
        if consumer.assignment() and time.time() - last_input > args.idle_s:
            break
        continue
    last_input = time.time()
    try:
        producer.begin_transaction()
        offsets = {}
        count = 0
        for tp, records in batch.items():
            for r in records:
                producer.send(args.output, value=r.value, partition=tp.partition)
                count += 1
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
        print("copied", count, flush=True)
    except KafkaError as e:
        print("aborting after", type(e).__name__, e, file=sys.stderr, flush=True)
        try:
            producer.abort_transaction()
        except KafkaError as abort_error:
            # A fatal error (fenced): a new producer is the only way on.
            print("abort failed", abort_error, file=sys.stderr, flush=True)
            sys.exit(3)
        rewind()
producer.close()
consumer.close()
print("done", flush=True)
