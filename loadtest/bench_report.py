"""BENCHMARKS.md from make bench's results (the plots it links: loadtest/bench_plots.py).

Everything in BENCHMARKS.md is regenerated on each run except the section between the
HISTORY markers: the steps taken and what each gained, kept by hand across runs.
"""
from __future__ import annotations

import time

from loadtest.bench_admin import admin_table
from loadtest.fixed_rate import STORES

HISTORY_START = "<!-- history: kept by hand across runs -->"
HISTORY_END = "<!-- /history -->"
COMPONENTS = ["web", "worker", "analytics", "client", "rabbitmq", "mariadb"]


def history_kept(old_text: str) -> str:
    """The hand-kept section of an earlier BENCHMARKS.md, markers included."""
    start, end = old_text.find(HISTORY_START), old_text.find(HISTORY_END)
    if start == -1 or end < start:
        return f"{HISTORY_START}\n## Steps and what each gained\n\n(none recorded yet)\n{HISTORY_END}"
    return old_text[start:end + len(HISTORY_END)]


def _cell(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def modes_table(results: list[dict]) -> list[str]:
    ceiling = next((r["accepted_rps"] for r in results if r["mode"] == "ceiling"), None)
    lines = [
        "| mode | stores | accepted/s | x ceiling | end to end/s | mean ms | median ms | p99 ms "
        "| max ms | drain s | lost | duplicates |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        share = f"{r['accepted_rps'] / ceiling:.2f}" if ceiling else "-"
        lines.append(
            f"| {r['mode']} | {r['stores']} | {r['accepted_rps']:.0f} | {share} | "
            f"{_cell(r['end_to_end_rps'])} | {r['mean_ms']:.1f} | {r['median_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {_cell(r['drain_s'])} "
            f"| {r['lost']} | {r['duplicates']} |")
    return lines


def cpu_table(results: list[dict]) -> list[str]:
    lines = ["| mode | " + " | ".join(COMPONENTS) + " | whole machine |",
             "|---|" + "---|" * (len(COMPONENTS) + 1)]
    for r in results:
        cpu = r.get("cpu_ms_per_purchase") or {}
        lines.append(f"| {r['mode']} | " + " | ".join(_cell(cpu.get(c), ".3f") for c in COMPONENTS)
                     + f" | {_cell(cpu.get('machine'), '.3f')} |")
    return lines


def sweep_table(sweep: list[dict]) -> list[str]:
    lines = ["| stores | purchases | accepted/s | end to end/s | median ms | p99 ms | max ms "
             "| drain s | lost | duplicates |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sweep:
        lines.append(f"| {r['stores']} | {r['successful']} | {r['accepted_rps']:.0f} | "
                     f"{_cell(r['end_to_end_rps'])} | {r['median_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['max_ms']:.1f} | {_cell(r['drain_s'])} | {r['lost']} | {r['duplicates']} |")
    return lines


# The queries part's runs: bench.json key, and how analytics and the query client ran.
QUERY_RUNS = (("normal", "ordinary priority"), ("realtime", "real-time priority"))


def query_rows(queries: dict) -> list[tuple[str, dict]]:
    """(while what, {kind of query: its figures}) for each measurement the queries part made."""
    rows = []
    for key, priority in QUERY_RUNS:
        if queries.get(key):
            rows += [(f"nothing else runs, {priority}", queries[key]["at_rest"]),
                     (f"ingest at full speed, {priority}", queries[key]["latency"])]
    return rows


def queries_table(queries: dict) -> list[str]:
    lines = ["| query | while | count | p50 ms | p99 ms | max ms | errors |",
             "|---|---|---|---|---|---|---|"]
    for label, figures in query_rows(queries):
        for kind, s in figures.items():
            lines.append(f"| {kind.replace('_', ' ')} | {label} | {s['count']} | "
                         f"{_cell(s['p50_ms'])} | {_cell(s['p99_ms'])} | {_cell(s['max_ms'])} | "
                         f"{s['errors']} |")
    return lines


# The latency part's runs: bench.json key, and how the web ran.
LATENCY_RUNS = (("latency", "ordinary"), ("latency_web_realtime", "real-time"))


def latency_table(bench: dict) -> list[str]:
    lines = ["| web priority | sent | failed | p50 ms | p99 ms | max ms | lost | duplicated "
             "| speed check s |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, priority in LATENCY_RUNS:
        if bench.get(key):
            r = bench[key]
            lines.append(f"| {priority} | {r['successful'] + r['failed']:,} | {r['failed']} | "
                         f"{r['median_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
                         f"{r['lost']} | {r['duplicates']} | {r.get('calibration_s', '-')} |")
    return lines


# Those that serve a purchase on its way to its answer or its row; the client is left out.
WAITING_COMPONENTS = ["web", "rabbitmq", "worker", "analytics", "mariadb"]


def latency_cores_table(bench: dict) -> list[str]:
    """Per latency run: how busy the cores were, and each component's CPU and wait for a core."""
    cores = bench["machine"]["cpus"]
    lines = ["| web priority | cores busy | " + " | ".join(WAITING_COMPONENTS) + " |",
             "|---|---:|" + "---:|" * len(WAITING_COMPONENTS)]
    for key, priority in LATENCY_RUNS:
        r = bench.get(key)
        if not r or not r.get("core_wait_ms_per_purchase"):
            continue
        cpu, waited = r.get("cpu_ms_per_purchase") or {}, r["core_wait_ms_per_purchase"]
        machine = cpu.get("machine")
        busy = "-" if machine is None else f"{machine * r['accepted_rps'] / 10 / cores:.0f}%"
        cells = [f"{_cell(cpu.get(c), '.2f')} / {_cell(waited.get(c), '.2f')}"
                 for c in WAITING_COMPONENTS]
        lines.append(f"| {priority} | {busy} | " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def keys_table(bench: dict) -> list[str]:
    """The keyed runs beside the same runs without a key, where the bench has them."""
    keys = bench["keys"]
    lines = ["| load | Idempotency-Key | purchases/s | p50 ms | p99 ms | max ms | lost | duplicated "
             "| web CPU ms | machine CPU ms |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [("store day, closed loop", "none", bench["modes"].get("durable")),
            ("store day, closed loop", "on every purchase", keys["day"]),
            ("fixed rate, open loop", "none", bench.get("latency")),
            ("fixed rate, open loop", "on every purchase", keys["fixed_rate"])]
    for load, key, r in rows:
        if r:
            cpu = r.get("cpu_ms_per_purchase") or {}
            lines.append(f"| {load} | {key} | {r['end_to_end_rps']:,.0f} | {r['median_ms']:.1f} | "
                         f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['lost']} | "
                         f"{r['duplicates']} | {_cell(cpu.get('web'), '.3f')} | "
                         f"{_cell(cpu.get('machine'), '.3f')} |")
    return lines


def markdown(bench: dict, history: str, plots: dict[str, str]) -> str:
    host = bench["machine"]
    results = list(bench["modes"].values())
    lines = [
        "# Benchmarks", "",
        f"Written by `{bench['command']}` on {time.strftime('%Y-%m-%d')}: {host['cpus']} cores "
        f"({host['cpu']}), {host['memory_gib']} GiB, Python {host['python']}; MariaDB, RabbitMQ, "
        "web (gunicorn), worker, analytics and the Locust client all on this one machine. "
        f"CPU speed check: `sum(range(10**7))` took {host.get('calibration_s', '-')} s "
        "(machines of this kind have measured 0.09 to 0.34 s: compare runs only with that in "
        "mind). Raw figures: `results/bench.json`; each run's report, CSV, logs and charts: "
        "`results/bench/`.", "",
        f"## Write modes, {results[0]['stores'] if results else '-'} stores, the same Locust day", "",
        *modes_table(results), "",
        "End to end: from the first request until the last accepted purchase is in the database "
        "and counted by analytics. Lost: accepted (201) but missing from the database or from "
        "analytics; duplicates: counted more than once. The client is the seed's: every store "
        "sends its next purchase as soon as the last one is answered, so latency is the number "
        "of stores open divided by the throughput (Little's law), not a property of one request.",
        "", "### CPU per purchase (ms), by component", "", *cpu_table(results), "",
        "Read from /proc over the run and its drain: where the two cores went.", "",
    ]
    if bench.get("latency"):
        fixed = bench["latency"]
        lines += ["## Latency under arrivals at a fixed rate (open loop)", "",
                  f"Durable mode; purchases sent at {fixed['accepted_rps']:,.0f}/s, evenly spaced "
                  f"(half the durable end-to-end rate above), over {STORES} kept-alive connections, "
                  "one per store; "
                  "each latency counts from when the purchase was due, so waiting for a free "
                  "connection counts too (`loadtest/fixed_rate.py`). The first "
                  f"{fixed.get('warmup_s', 0):g} s, on processes just started, are sent the "
                  "same way but left out of the latencies; the counts include them."
                  + (" Twice: with every process at ordinary priority, sharing the two cores, "
                     "then with the web at real-time priority (`chrt --rr 10`), ahead of the "
                     "broker, worker, analytics and database on the CPU as when it has hosts of "
                     "its own (`deploy.yml`); the client runs at real-time priority in both, as "
                     "on the stores' own machines." if bench.get("latency_web_realtime") else "")
                  + " Latencies in milliseconds grow as the machine slows: each run's speed "
                  "check (as above) is in its row.",
                  "", *latency_table(bench), ""]
        cores = latency_cores_table(bench)
        if cores:
            lines += ["Where the cores went meanwhile: the share of both cores busy, and for each "
                      "component its CPU / its time ready to run but waiting for a core, in ms "
                      "per purchase (the kernel's schedstat, summed over the component's threads, "
                      "so a component of many threads, like RabbitMQ's schedulers, may wait for "
                      "longer than the run lasts). The web's and RabbitMQ's waits are in the answers' "
                      "latency (the 201 waits for the broker's confirm); the others' in how soon "
                      "a purchase is written and counted. Hosts of their own take the waits "
                      "away.", "", *cores, ""]
    if bench.get("keys"):
        lines += ["## An Idempotency-Key on every purchase", "",
                  "Durable mode, every purchase with a key of its own, kept in "
                  f"{bench['keys']['store']} (a deployment without `REDIS_URL` keeps them in "
                  "the database): the Locust day of the write modes, then the fixed rate at half "
                  "of that day's end-to-end rate, every process at ordinary priority. Beside "
                  "them, the same runs without a key from above.", "", *keys_table(bench), ""]
    if bench.get("sweep"):
        lines += ["## Durable mode against the number of stores", "", *sweep_table(bench["sweep"]),
                  "", f"![throughput and latency against stores]({plots['sweep']})", ""]
    if bench.get("depth"):
        depth = bench["depth"]
        lines += ["## Queue depth during the durable run", "",
                  f"Deepest `purchases.db` backlog (ready messages): {depth['max_db_ready']}; "
                  f"largest analytics backlog (stream messages not yet counted): "
                  f"{depth['max_analytics_backlog']}; sampled every {depth['interval_s']} s.", "",
                  f"![queue depth over time]({plots['depth']})", ""]
    if bench.get("queries"):
        q = bench["queries"]
        ingest = ", ".join(f"{q[key]['ingest']['accepted_rps']:,.0f}/s at {priority}"
                           for key, priority in QUERY_RUNS if q.get(key))
        lines += [f"## Top-N queries while ingest runs at full speed ({q['items']:,} items x "
                  f"{q['stores']:,} stores)", "",
                  "Analytics started on a full matrix (every item sold in every store), then the "
                  "durable Locust day of the write modes ran while one client asked "
                  f"{q['rate']:g} queries/s of each kind, one at a time: gRPC straight to analytics, "
                  "REST through the web process that takes the purchases, and REST through a "
                  "read web (the same gunicorn command on a port of its own, "
                  f"{q['read_web_threads']} threads, taking no purchases: what a load balancer rule "
                  "sending `/items/*` to read hosts gives). Twice: with analytics, the read web "
                  "and the query client at ordinary priority, then all three at real-time "
                  "priority (`chrt --rr 10`: they stand for processes on machines of their own; "
                  "the ingest's web, the worker, RabbitMQ and MariaDB stay ordinary). Purchases "
                  f"accepted meanwhile: {ingest}.", "",
                  *queries_table(q), "", f"![top-N query latency]({plots['queries']})", ""]
    if bench.get("admin"):
        lines += [*admin_table(bench["admin"]), ""]
    lines += ["## Commands", "", "```", "make bench          # everything above (about half an hour here)",
              "make bench QUICK=1  # the same parts, small: a few minutes",
              "make soak           # 30 minutes at 80% of the durable rate (results below)",
              "```", "",
              history, ""]
    return "\n".join(lines)

