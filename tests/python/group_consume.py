"""A consumer-group member: subscribes, reads until idle, commits after processing.

Prints "partition offset value" per record processed, then "assigned p1,p2,..." with the
partitions it held last. Exits after --idle-ms without records (after at least one
assignment) or after --max records; a clean close commits and leaves the group.
"""
import argparse
import sys
import time

from kafka import KafkaConsumer

parser = argparse.ArgumentParser()
parser.add_argument("--bootstrap", required=True)
parser.add_argument("--topic", required=True)
parser.add_argument("--group", required=True)
parser.add_argument("--idle-ms", type=int, default=6000)
parser.add_argument("--max", type=int, default=1_000_000)
parser.add_argument("--deadline-s", type=int, default=90)
parser.add_argument("--no-commit-exit", action="store_true",
                    help="exit without committing or leaving (simulates a crash after processing)")
args = parser.parse_args()

consumer = KafkaConsumer(
    args.topic,
    bootstrap_servers=args.bootstrap,
    group_id=args.group,
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    session_timeout_ms=6000,
    heartbeat_interval_ms=1000,
    max_poll_records=200,
)
seen = 0
last_record = time.time()
start = time.time()
assigned = set()
while time.time() - start < args.deadline_s and seen < args.max:
    batch = consumer.poll(timeout_ms=500, max_records=min(200, args.max - seen))
    now_assigned = {tp.partition for tp in consumer.assignment()}
    if now_assigned != assigned:
        # A (re)assignment restarts the idle clock: the new partitions may hold records.
        assigned = now_assigned
        last_record = time.time()
    if batch:
        for tp, records in batch.items():
            for r in records:
                print(r.partition, r.offset, r.value.decode())
                seen += 1
        last_record = time.time()
        if not args.no_commit_exit:
            consumer.commit()
    elif assigned and (time.time() - last_record) * 1000 > args.idle_ms:
        break
print("assigned", ",".join(str(p) for p in sorted(assigned)))
sys.stdout.flush()
if args.no_commit_exit:
    import os
    os._exit(0)
consumer.close()
