"""Consume-transform-produce with kafka-python's transactional producer (exactly-once).

Reads --input with a read_committed group member, writes each value to the same partition
of --output inside a transaction, and commits the consumed offsets in that same
transaction (send_offsets_to_transaction). On any transactional error it aborts and rewinds
to the committed offsets. Stops after --idle-s without input (or --deadline-s). Prints
"copied N" per committed transaction, so a test can kill it mid-way.
"""
import argparse
import os
import sys
import threading
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
# kafka-python's transactional calls block without a timeout: a watchdog ends the process
# (exit 4, saying where it was) if the loop makes no progress for a while, so a test never hangs.
progress = {"at": time.time(), "stage": "init_transactions"}


def watchdog():
    while True:
        time.sleep(1)
        if time.time() - progress["at"] > 45:
            print("watchdog: stuck in", progress["stage"], file=sys.stderr, flush=True)
            os._exit(4)


threading.Thread(target=watchdog, daemon=True).start()
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
    progress.update(at=time.time(), stage="poll")
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
        progress["stage"] = "send_offsets_to_transaction"
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        progress["stage"] = "commit_transaction"
        producer.commit_transaction()
        print("copied", count, flush=True)
    except KafkaError as e:
        print("aborting after", type(e).__name__, e, file=sys.stderr, flush=True)
        try:
            progress["stage"] = "abort_transaction"
            producer.abort_transaction()
        except KafkaError as abort_error:
            # A fatal error (fenced): a new producer is the only way on.
            print("abort failed", abort_error, file=sys.stderr, flush=True)
            sys.exit(3)
        rewind()
producer.close()
consumer.close()
print("done", flush=True)
