"""The report's statistics against values worked out by hand, the CSV, and the rebuild CLI."""
import csv
import json
import subprocess
import sys

from loadtest.report import CSV_COLUMNS, Record, csv_read, csv_write, report_build
from loadtest.stack import ROOT

# Ten requests over 2 s; latencies 1..10 ms, two of them failed.
RECORDS = [
    Record(1000.0 + i * 0.2, "POST", float(latency), 201 if i not in (3, 7) else 503, 1 + i % 4,
           1 + i // 4)
    for i, latency in enumerate([4, 1, 9, 2, 10, 3, 8, 5, 7, 6])
]


def test_it_computes_the_seeds_statistics_from_raw_records():
    report = report_build(RECORDS)
    # The last request starts at 1001.8 and takes 6 ms: wall time 1.806 s.
    assert report == {
        "successful": 8, "failed": 2, "wall_time_s": 1.806,
        "throughput_rps": round(10 / 1.806, 1),  # 5.5
        "mean_ms": 5.5,      # (1 + ... + 10) / 10
        "median_ms": 5.5,    # between 5 and 6
        "p99_ms": 10.0,      # nearest rank: ceil(0.99 * 10) = 10th of 10
        "max_ms": 10.0,
    }


def test_the_p99_is_the_nearest_rank_not_a_bucket():
    records = [Record(0.0, "POST", float(ms), 201, 1, 1) for ms in range(1, 201)]  # 1..200 ms
    report = report_build(records)
    assert report["p99_ms"] == 198.0 and report["median_ms"] == 100.5


def test_the_csv_has_the_columns_and_one_line_per_request(tmp_path):
    path = tmp_path / "requests.csv"
    csv_write(RECORDS, path)
    with path.open() as source:
        rows = list(csv.reader(source))
    assert rows[0] == CSV_COLUMNS
    assert len(rows) == 1 + len(RECORDS)
    assert sorted(csv_read(path)) == sorted(RECORDS)


def test_it_rebuilds_report_and_charts_from_a_csv(tmp_path):
    path = tmp_path / "day.csv"
    csv_write(RECORDS, path)
    result = subprocess.run([sys.executable, "-m", "loadtest.report", str(path), "--report",
                             str(tmp_path / "again.json")], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "successful requests: 8" in result.stdout and "p99 10.0" in result.stdout
    again = json.loads((tmp_path / "again.json").read_text())
    assert {k: again[k] for k in report_build(RECORDS)} == report_build(RECORDS)
    assert set(again["phase_starts"]) == {"East", "Central", "West"}
    for chart in ("day_throughput.png", "day_latency.png"):
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_it_refuses_a_csv_that_is_not_a_request_log(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    result = subprocess.run([sys.executable, "-m", "loadtest.report", str(path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "columns" in result.stderr


def test_it_titles_the_charts_with_the_runs_parameters(tmp_path):
    from PIL import Image

    from loadtest.report import charts_write
    from loadtest.results import run_info, run_title
    from loadtest.stores import DayParams

    info = run_info(DayParams(max_stores=4, num_purchases=7, items_per_purchase=3,
                              num_customers=50, max_item_id=900, date="20210315"),
                    "http://tigle.example", 1_800_000_000.0)
    title = run_title(info)
    assert title.startswith("Store day 2021-03-15: 4 stores x 9 h x 7 purchases/h, 3 items each "
                            "(IDs < 900), 50 customers/store\nagainst http://tigle.example")
    paths = charts_write(RECORDS, tmp_path, "day", 4, title)
    assert [p.name for p in paths] == ["day_throughput.png", "day_latency.png"]
    for path in paths:
        assert Image.open(path).text["Title"] == title


def test_a_rebuilt_chart_keeps_the_title_of_the_report_beside_its_csv(tmp_path):
    from PIL import Image

    from loadtest.report import report_write
    from loadtest.results import run_info, run_title
    from loadtest.stores import DayParams

    info = run_info(DayParams(max_stores=4), "http://tigle.example", 1_800_000_000.0)
    report_write(RECORDS, report_path=tmp_path / "report.json", csv_path=tmp_path / "requests.csv",
                 charts_dir=None, report={**report_build(RECORDS), "run": info})
    result = subprocess.run([sys.executable, "-m", "loadtest.report", str(tmp_path / "requests.csv"),
                             "--report", str(tmp_path / "report.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "requests_latency.png").text["Title"] == run_title(info)
    assert json.loads((tmp_path / "report.json").read_text())["run"] == info  # kept


def test_it_gives_each_run_a_folder_of_its_own(tmp_path):
    import datetime

    from loadtest.results import run_dir_new

    started = datetime.datetime(2026, 12, 7, 3, 12, 40).timestamp()
    first = run_dir_new(tmp_path / "results", 256, started)
    second = run_dir_new(tmp_path / "results", 256, started + 5)  # the same minute
    demo = run_dir_new(tmp_path / "results", 8, started, label="demo")
    assert first == tmp_path / "results" / "2026-12-07T0312-256stores"
    assert second == tmp_path / "results" / "2026-12-07T0312-256stores-2"
    assert demo.name == "2026-12-07T0312-8stores-demo"
    assert all(p.is_dir() and not any(p.iterdir()) for p in (first, second, demo))
