"""Measures the Python worker's throughput through a running ``backlog serve --zmq``.

Enqueues ``--jobs`` no-op jobs through a producer session, then drains them with one Python
worker of ``--capacity`` threads and reports jobs/s (order received → outcome recorded, so it
includes the server's claims and batched outcome writes). Run it through
``scripts/bench-python-worker``, which starts a server on a fresh SQLite file (or the database
in ``BACKLOG_BENCH_DATABASE_URL``).
"""

import argparse
import threading
import time

from backlog_client import JobSpec, Producer, Worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--capacity", type=int, default=32)
    args = parser.parse_args()

    with Producer(args.endpoint) as producer:
        started = time.perf_counter()
        for first in range(0, args.jobs, 1000):
            count = min(1000, args.jobs - first)
            producer.enqueue_many(
                [JobSpec(kind="py_noop", args={"n": first + i}, queue="pybench") for i in range(count)]
            )
        enqueued = time.perf_counter() - started

    worker = Worker(args.endpoint, capacity=args.capacity, queues=["pybench"])
    done = 0
    lock = threading.Lock()
    all_done = threading.Event()

    @worker.register("py_noop")
    def noop(job):
        nonlocal done
        with lock:
            done += 1
            if done == args.jobs:
                all_done.set()

    def stop_when_done() -> None:
        all_done.wait()
        worker.stop()

    threading.Thread(target=stop_when_done, daemon=True).start()
    started = time.perf_counter()
    stats = worker.run(install_signal_handlers=False)
    elapsed = time.perf_counter() - started
    print(f"enqueue through a Python producer: {args.jobs / enqueued:,.0f} jobs/s (batches of 1,000)")
    print(
        f"Python worker drain: {args.jobs / elapsed:,.0f} jobs/s "
        f"({args.jobs} no-op jobs, capacity {args.capacity}, {stats.completed} completed, "
        f"{stats.stale} stale, including the graceful stop)"
    )


if __name__ == "__main__":
    main()
