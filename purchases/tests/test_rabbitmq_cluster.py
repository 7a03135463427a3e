"""A real three-node RabbitMQ cluster of the test's own under web, worker and analytics, as the
deployment runs it: purchases.db a quorum queue and the analytics stream each replicated on
every node, CELERY_BROKER_URL naming all three.

Under a steady load one node's RabbitMQ is stopped and started again, then another node's
Erlang VM is killed with -9 and started again. Every 201 must be written once and counted
once, every other answer a 503, and every process must carry on by itself. How long each
event kept purchases from being accepted, written and counted goes to failover.json in the
test's log folder (and is printed).
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable

import psutil
import pytest

from analytics import client
from loadtest.stack import Process
from purchases.events import ANALYTICS_STREAM, DB_QUEUE
from purchases.tests.helpers import (
    assert_written_exactly,
    database_purchases,
    stream_event_ids,
    wait_until,
)
from purchases.tests.rabbitmq_cluster import Cluster, Node
from purchases.tests.steady_load import Progress, SteadyLoad, failover_costs, purchase_count

pytestmark = pytest.mark.slow

# How long each state (a node away, all nodes back) lasts under load: long enough for every
# process to notice, fail over and carry on before the next event.
SETTLE_SECONDS = 8


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path / "cluster")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def nodes_used(cluster: Cluster, process: Process) -> set[str]:
    """The cluster nodes that a process (or one of its children) holds a connection to."""
    root = psutil.Process(process.popen.pid)
    used = set()
    for one in [root, *root.children(recursive=True)]:
        try:
            connections = one.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        for connection in connections:
            node = cluster.by_port(connection.raddr.port) if connection.raddr else None
            if node is not None and connection.status == psutil.CONN_ESTABLISHED:
                used.add(node.name)
    return used


def children(process: Process) -> set[int]:
    return {child.pid for child in psutil.Process(process.popen.pid).children(recursive=True)}


def short(node: Node) -> str:
    return node.name.split("-")[-1].split("@")[0]


def leaders(cluster: Cluster) -> str:
    """Which node leads each of Tigle's queues now, as the first node says."""
    queues = cluster.queues()
    return ", ".join(f"{name} led by {short(cluster.by_name(queues[name]['leader']))}"
                     for name in (DB_QUEUE, ANALYTICS_STREAM))


def second_victim(cluster: Cluster, web: Process) -> Node:
    """Another node than the first: the web's (so it loses its publisher connection), else
    the one leading purchases.db now."""
    first = cluster.nodes[0]
    leader = cluster.by_name(cluster.queues()[DB_QUEUE]["leader"])
    candidates = [*map(cluster.by_name, sorted(nodes_used(cluster, web))), leader,
                  cluster.nodes[1]]
    return next(node for node in candidates if node is not None and node is not first)


def test_it_fails_over_between_three_rabbitmq_nodes_and_loses_nothing(cluster, stack,
                                                                      record_property):
    stack.env.update(CELERY_BROKER_URL=cluster.broker_url, TIGLE_QUEUE_TYPE="quorum")
    analytics, address = stack.start_analytics()
    worker = stack.start_worker()
    # One web process: it cannot hide a failing one behind the other.
    web = stack.start_web(ANALYTICS_ADDRESS=address, WEB_CONCURRENCY="1")
    everyone = {node.name for node in cluster.nodes}
    queues = cluster.queues()
    for name, kind in ((DB_QUEUE, "quorum"), (ANALYTICS_STREAM, "stream")):
        assert (queues[name]["type"], set(queues[name]["members"])) == (kind, everyone)
    pids = {name: children(process) for name, process in
            (("web", web), ("worker", worker), ("analytics", analytics))}
    first = cluster.nodes[0]
    # Worker and analytics take the first node that answers, and declared both queues
    # there: stopping it moves them and both queues' leaders.
    assert first.name in nodes_used(cluster, worker) & nodes_used(cluster, analytics)

    load = SteadyLoad(stack.base).start()
    progress = Progress(stack.database_url, address).start()
    events: list[tuple[str, float]] = []

    def event(what: str, action: Callable[[], object]) -> None:
        events.append((what, time.monotonic()))
        action()
        time.sleep(SETTLE_SECONDS)

    wait_until(lambda: purchase_count(stack.database_url) >= 100, 60, "the worker writing")
    event("no fault (for comparison)", lambda: None)
    event(f"stop_app {short(first)} ({leaders(cluster)})", lambda: first.ctl("stop_app"))
    event(f"start_app {short(first)}", lambda: first.ctl("start_app"))
    second = second_victim(cluster, web)
    event(f"kill -9 {short(second)} ({leaders(cluster)})", second.kill)
    event(f"start {short(second)}", lambda: (second.start(), second.wait()))
    end = time.monotonic()
    load.stop(retry_seconds=60)
    progress.stop()

    attempts = Counter(attempt.status for attempt in load.attempts)
    accepted = load.accepted()
    report = {"cluster_start_s": cluster.start_seconds, "purchases": len(load.purchases),
              "answers": {str(status): count for status, count in attempts.items()},
              "events": failover_costs(load, progress, events, end)}
    (stack.log_dir / "failover.json").write_text(json.dumps(report, indent=2))
    record_property("failover", json.dumps(report))
    print("failover:", json.dumps(report, indent=2))

    # A purchase the broker could not take was refused with a 503, and its retry got a 201.
    assert set(attempts) <= {201, 503}, attempts
    assert len(accepted) == len(load.purchases), "every purchase accepted in the end"
    wait_until(lambda: purchase_count(stack.database_url) >= len(accepted), 90,
               "the worker to write every accepted purchase")
    written = database_purchases(stack.database_url)
    assert set(written) == {sent.purchase_id.replace("-", "") for sent in accepted}
    assert_written_exactly(accepted, written)
    # A publish whose confirm was lost and that was then retried with its key is in the
    # stream twice; analytics counts it once.
    in_stream = Counter(stream_event_ids(cluster.broker_url))
    assert set(in_stream) == {sent.purchase_id for sent in accepted}
    units = sum(quantity for sent in accepted for _, quantity in sent.items)
    wait_until(lambda: client.stats(address)["purchases"] >= len(accepted), 60,
               "analytics to count every purchase")
    stats = client.stats(address)
    assert (stats["purchases"], stats["units"]) == (len(accepted), units)

    # Nobody was restarted, and each lost its node at least once and came back by itself.
    for name, process in (("web", web), ("worker", worker), ("analytics", analytics)):
        assert process.running and children(process) == pids[name], f"{name} restarted"
        assert nodes_used(cluster, process), f"{name} holds no broker connection"
    assert "publisher connection dropped" in web.log_text()
    assert "Connection to broker lost" in worker.log_text()
    assert "reconnecting in" in analytics.log_text()
