"""The Locust web UI's start page for a store day, added through Locust's documented
`environment.web_ui.app` (a Flask app): the day's options come first, the users and ramp-up
they decide are explained instead of asked, and the last runs' reports and charts are shown.

Locust's own page stays where it was, for the statistics of a run that goes on or ended
(`/?stats`); while nothing runs, `/` leads here.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, abort, redirect, render_template, request, send_from_directory
from locust.runners import STATE_INIT, STATE_STOPPED

from loadtest.results import REPORT, run_title
from loadtest.stores import HOURS

TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNS_SHOWN = 8
# The form's fields in the order a person sets up a day: size first, then the details.
FIELDS = [
    ("max_stores", "Stores", "number", "one Locust user each; the first quarter (East) opens at "
     "once, Central after any store's 3rd hour, West after its 5th"),
    ("num_purchases", "Purchases per store per hour", "number", f"each store is open {HOURS} "
     "hours and sends them one after another"),
    ("items_per_purchase", "Items per purchase", "number", "1 to 20"),
    ("num_customers", "Customers per store", "number", "custID in [storeID*1000, +N)"),
    ("max_item_id", "ItemIDs below", "number", "ItemIDs are drawn from [1, N)"),
    ("date", "Date", "text", "the day, YYYYMMDD"),
]


def runs_listed(results_dir: Path) -> list[dict]:
    """The newest run folders under results_dir, each with its report and charts."""
    if not results_dir.is_dir():
        return []
    folders = sorted((p for p in results_dir.iterdir() if (p / REPORT).is_file()),
                     key=lambda p: p.stat().st_mtime, reverse=True)[:RUNS_SHOWN]
    runs = []
    for folder in folders:
        try:
            report = json.loads((folder / REPORT).read_text())
        except ValueError:
            continue
        runs.append({"name": folder.name, "report": report,
                     "title": run_title(report["run"]) if "run" in report else folder.name,
                     # Throughput above latency, as the run's own report lists them.
                     "charts": sorted((p.name for p in folder.glob("*.png")),
                                      key=lambda name: ("latency" in name, name)),
                     "files": sorted(p.name for p in folder.iterdir() if p.suffix != ".png")})
    return runs


def start_page_add(environment) -> None:
    """The page at /day, its results at /day/results/..., and / leading there while idle."""
    web_ui = environment.web_ui
    options = environment.parsed_options
    page = Blueprint("tigle_day", __name__, template_folder=str(TEMPLATES))

    def results_dir() -> Path:
        return Path(options.results_dir or "results").resolve()

    @page.route("/day")
    @web_ui.auth_required_if_enabled
    def day_page() -> str:
        values = {name: getattr(options, name) for name, *_ in FIELDS}
        return render_template(
            "tigle_day.html", fields=FIELDS, values=values, host=environment.host or "",
            state=environment.runner.state, results_dir=results_dir(),
            explicit=bool(options.requests_csv or options.report),
            runs=runs_listed(results_dir()))

    @page.route("/day/results/<run>/<name>")
    @web_ui.auth_required_if_enabled
    def day_results(run: str, name: str):
        folder = results_dir() / run
        if "/" in run or run.startswith(".") or not folder.is_dir():
            abort(404)
        return send_from_directory(folder, name)

    web_ui.app.register_blueprint(page)

    @web_ui.app.before_request
    def start_page_first():
        # Only the bare page: Locust's own assets, API and ?stats view stay as they are.
        if (request.method == "GET" and request.path == "/" and not request.args
                and environment.runner.state in (STATE_INIT, STATE_STOPPED)):
            return redirect("/day")
        return None
