"""The benchmark's bookkeeping (the benchmark itself is make bench, never a test)."""
import json
import time

import numpy as np

from analytics.checkpoint import checkpoint_load
from loadtest import bench_plots, bench_report
from loadtest.bench_figures import depth_summary, losses
from loadtest.cpu import CpuMeter, machine_cpu, tree_cpu, tree_waiting
from loadtest.preload import matrix_preload

RESULT = {"mode": "durable", "stores": 32, "accepted_rps": 961.0, "end_to_end_rps": 957.1,
          "mean_ms": 26.0, "median_ms": 24.1, "p99_ms": 67.1, "max_ms": 284.1, "drain_s": 0.03,
          "lost": 0, "duplicates": 0, "successful": 5760,
          "cpu_ms_per_purchase": {"web": 0.9, "worker": 0.4, "machine": 2.5}}
HOST = {"cpus": 2, "cpu": "x", "memory_gib": 24, "python": "3.11", "calibration_s": 0.2}


def test_it_counts_losses_and_duplicates_against_every_count():
    assert losses(100, 100, 100) == (0, 0)
    assert losses(100, 97, 100) == (3, 0)
    assert losses(100, 100, 102) == (0, 2)
    assert losses(100, None, None) == (0, 0)
    assert losses(100, 99, None) == (1, 0)


def test_the_tables_compare_each_mode_with_the_ceiling_and_show_cpu():
    ceiling = {**RESULT, "mode": "ceiling", "accepted_rps": 2887.0, "end_to_end_rps": None,
               "drain_s": None, "cpu_ms_per_purchase": {"web": 0.5}}
    bench = {"machine": HOST, "command": "make bench",
             "modes": {"ceiling": ceiling, "durable": RESULT}}
    text = bench_report.markdown(bench, bench_report.history_kept(""), {})
    assert "| durable | 32 | 961 | 0.33 | 957.1 |" in text
    assert "| ceiling | 32 | 2887 | 1.00 | - |" in text
    assert "| durable | 0.900 | 0.400 | - | - | - | - | 2.500 |" in text


def _query_run(p99_under_ingest: float, accepted: float) -> dict:
    at_rest = {"count": 10, "p50_ms": 0.5, "p99_ms": 1.5, "max_ms": 2.0, "errors": 0}
    return {"at_rest": {"grpc_top_items": at_rest, "read_web_top_items": at_rest},
            "latency": {"grpc_top_items": {**at_rest, "p99_ms": p99_under_ingest},
                        "read_web_top_items": {**at_rest, "p99_ms": 2 * p99_under_ingest}},
            "ingest": {**RESULT, "accepted_rps": accepted}}


QUERIES = {"items": 100, "stores": 4, "rate": 50, "read_web_threads": 4, "normal": _query_run(40.0, 1234.0),
           "realtime": _query_run(1.2, 1201.0)}


def test_the_query_table_shows_each_priority_at_rest_and_under_ingest():
    bench = {"machine": HOST, "command": "make bench", "modes": {}, "queries": QUERIES}
    text = bench_report.markdown(bench, bench_report.history_kept(""), {"queries": "q.png"})
    assert "| grpc top items | ingest at full speed, ordinary priority | 10 | 0.5 | 40.0 | 2.0 | 0 |" in text
    assert "| grpc top items | ingest at full speed, real-time priority | 10 | 0.5 | 1.2 | 2.0 | 0 |" in text
    assert "| grpc top items | nothing else runs, real-time priority |" in text
    assert "| read web top items | ingest at full speed, real-time priority | 10 | 0.5 | 2.4 |" in text
    assert "a read web (the same gunicorn command on a port of its own, 4 threads" in text
    assert "1,234/s at ordinary priority, 1,201/s at real-time priority" in text
    without = {**QUERIES, "realtime": None}  # no chrt, or not allowed here
    text = bench_report.markdown({**bench, "queries": without}, "", {"queries": "q.png"})
    assert "real-time priority |" not in text


def test_the_latency_table_shows_the_web_at_each_priority():
    fixed = {**RESULT, "accepted_rps": 480.0, "successful": 30000, "failed": 2, "median_ms": 4.2,
             "p99_ms": 24.6, "max_ms": 61.0, "warmup_s": 5.0, "calibration_s": 0.131}
    realtime = {**fixed, "failed": 0, "median_ms": 3.1, "p99_ms": 10.4, "max_ms": 27.2,
                "calibration_s": 0.127}
    bench = {"machine": HOST, "command": "make bench", "modes": {}, "latency": fixed,
             "latency_web_realtime": realtime}
    text = bench_report.markdown(bench, "", {})
    assert "purchases sent at 480/s" in text
    assert "| ordinary | 30,002 | 2 | 4.2 | 24.6 | 61.0 | 0 | 0 | 0.131 |" in text
    assert "| real-time | 30,000 | 0 | 3.1 | 10.4 | 27.2 | 0 | 0 | 0.127 |" in text
    assert "then with the web at real-time priority" in text
    assert "cores busy" not in text  # runs from before the bench measured waits
    fixed["cpu_ms_per_purchase"] = {"web": 1.5, "rabbitmq": 0.8, "machine": 2.5}
    fixed["core_wait_ms_per_purchase"] = {"web": 0.9, "rabbitmq": 1.2, "worker": 0.3}
    text = bench_report.markdown(bench, "", {})
    assert "| ordinary | 60% | 1.50 / 0.90 | 0.80 / 1.20 | - / 0.30 | - / - | - / - |" in text
    text = bench_report.markdown({**bench, "latency_web_realtime": None}, "", {})
    assert "| ordinary | 30,002 |" in text
    assert "| real-time |" not in text  # no chrt, or not allowed here
    assert "real-time priority (`chrt" not in text


def test_the_keys_table_sets_each_keyed_run_beside_the_same_run_without_keys():
    day = {**RESULT, "end_to_end_rps": 1300.4}
    fixed = {**RESULT, "end_to_end_rps": 650.0, "median_ms": 4.2, "p99_ms": 19.5, "failed": 0}
    keyed_day = {**RESULT, "end_to_end_rps": 610.2, "median_ms": 280.0, "p99_ms": 900.0,
                 "cpu_ms_per_purchase": {"web": 2.1, "machine": 3.3}}
    keyed_fixed = {**keyed_day, "end_to_end_rps": 305.0, "median_ms": 6.5, "p99_ms": 31.0,
                   "duplicates": 1}
    bench = {"machine": HOST, "command": "make bench", "modes": {"durable": day},
             "latency": fixed, "keys": {"store": "the database's table", "day": keyed_day,
                                        "fixed_rate": keyed_fixed}}
    text = bench_report.markdown(bench, "", {})
    assert "kept in the database's table" in text
    assert "| store day, closed loop | none | 1,300 | 24.1 | 67.1 | 284.1 | 0 | 0 | 0.900 | 2.500 |" in text
    assert "| store day, closed loop | on every purchase | 610 | 280.0 | 900.0 |" in text
    assert "| fixed rate, open loop | none | 650 | 4.2 | 19.5 |" in text
    assert "| fixed rate, open loop | on every purchase | 305 | 6.5 | 31.0 | 284.1 | 0 | 1 | 2.100 | 3.300 |" in text
    text = bench_report.markdown({**bench, "modes": {}, "latency": None}, "", {})
    assert "| none |" not in text  # the keys part alone: no unkeyed runs to set beside


def test_a_rerun_keeps_the_hand_kept_history_and_replaces_the_rest():
    bench = {"machine": HOST, "command": "make bench", "modes": {"durable": RESULT}}
    history = (f"{bench_report.HISTORY_START}\n## Steps\n- pipelined confirms: +10%\n"
               f"{bench_report.HISTORY_END}")
    old = "# Benchmarks\nold table\n\n" + history + "\n"
    text = bench_report.markdown(bench, bench_report.history_kept(old), {})
    assert "- pipelined confirms: +10%" in text and "old table" not in text
    assert text.count(bench_report.HISTORY_START) == 1


def test_it_draws_the_sweep_depth_and_query_plots(tmp_path):
    sweep = [{**RESULT, "stores": n} for n in (32, 64, 128)]
    bench_plots.sweep_plot(sweep, tmp_path / "sweep.png")
    depth = depth_summary([{"t": 0.5, "db_ready": 3, "analytics_backlog": 10},
                           {"t": 1.0, "db_ready": 0, "analytics_backlog": 2}])
    assert (depth["max_db_ready"], depth["max_analytics_backlog"]) == (3, 10)
    bench_plots.depth_plot(depth["samples"], tmp_path / "depth.png")
    bench_plots.queries_plot(QUERIES, tmp_path / "queries.png")
    for name in ("sweep", "depth", "queries"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_the_preloaded_matrix_has_every_item_in_every_store(tmp_path):
    purchases = matrix_preload(tmp_path, stores=8, items=300)
    state = checkpoint_load(tmp_path)
    totals = state.matrix.totals()
    assert (totals.stores, totals.items, totals.purchases) == (8, 300, purchases)
    assert state.last_offset == -1  # the live stream is added from its first offset
    top = state.matrix.top_items(8, 3)
    assert len(top) == 3 and all(quantity >= 1 for _, quantity in top)
    assert json.dumps(top)  # plain ints, ready for the API


def test_the_cpu_meter_sees_this_process_work():
    import os

    meter = CpuMeter({"me": lambda: tree_cpu(os.getpid()), "machine": machine_cpu})
    meter.start()
    np.random.default_rng(0).random(3_000_000).sort()
    used = meter.stop()
    assert used["me"] > 0 and used["machine"] >= used["me"] - 0.05


def test_the_wait_meter_sees_processes_queue_for_one_core():
    import os
    import subprocess
    import sys

    spin = [sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"]
    first = subprocess.Popen(spin)
    try:
        second = subprocess.Popen(spin)
        try:
            for busy in (first, second):
                os.sched_setaffinity(busy.pid, {min(os.sched_getaffinity(0))})
            meter = CpuMeter({"first": lambda: tree_waiting(first.pid),
                              "second": lambda: tree_waiting(second.pid)})
            meter.start()
            time.sleep(1)
            waited = meter.stop()
        finally:
            second.kill()
    finally:
        first.kill()
    # Two spinning processes on one core: each waits about half the time.
    assert waited["first"] + waited["second"] > 0.5


def test_the_admin_part_reports_each_pages_p95_against_its_target():
    admin = {"rows": 10_000_000, "items_per_purchase": 2, "load_s": 300.0, "target_ms": 300,
             "repeats": 20, "pages": [
                 {"page": "list", "p50_ms": 30.0, "p95_ms": 41.5, "max_ms": 50.0, "ok": True},
                 {"page": "filter: date", "p50_ms": 250.0, "p95_ms": 310.0, "max_ms": 400.0,
                  "ok": False}]}
    bench = {"machine": HOST, "command": "make bench --parts admin", "modes": {}, "admin": admin}
    text = bench_report.markdown(bench, bench_report.history_kept(""), {})
    assert "## The admin at 10,000,000 purchases" in text
    assert "| list | 30.0 | 41.5 | 50.0 | yes |" in text
    assert "| filter: date | 250.0 | 310.0 | 400.0 | **no** |" in text


def test_the_admin_load_and_the_search_agree_on_purchase_ids():
    import hashlib

    from loadtest.bench_admin import _uuid_sql, purchase_uuid
    from loadtest.service_admin import mysql_execute
    from purchases.tests.run_env import MYSQL

    for n in (1, 101, 9_999_999):
        made = mysql_execute(MYSQL, f"SELECT {_uuid_sql(str(n))}")[0][0]
        assert purchase_uuid(n).replace("-", "") == made
        assert purchase_uuid(n)[14] == "4" and made[:12] == hashlib.md5(str(n).encode()).hexdigest()[:12]
