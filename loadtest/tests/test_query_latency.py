"""The top-N latency client against a real analytics process, the web and a read web."""
import json
import subprocess
import sys
import time

import pytest

from loadtest.stack import ROOT, web_start

pytestmark = pytest.mark.slow

KINDS = {f"{way}_top_{what}" for way in ("grpc", "rest", "read_web")
         for what in ("items", "stores")}


def test_it_times_each_kind_of_query_over_grpc_the_web_and_a_read_web(own_stack):
    stack = own_stack
    _, address = stack.start_analytics()
    stack.start_web(ANALYTICS_ADDRESS=address)
    reader, read_web = web_start({**stack.env, "ANALYTICS_ADDRESS": address}, stack.log_dir,
                                 name="read-web")
    try:
        client = subprocess.Popen(
            [sys.executable, "-m", "loadtest.query_latency", "--grpc", address,
             "--rest", stack.base, "--read-web", read_web, "--stores", "4", "--items", "10",
             "--rate", "20"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        result = json.loads(client.communicate(timeout=30)[0])  # closing stdin ends it
    finally:
        reader.stop()
    assert set(result) == KINDS
    for kind, figures in result.items():
        assert figures["count"] > 0 and figures["errors"] == 0, (kind, figures)
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"], (kind, figures)
