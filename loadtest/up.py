"""make up: every Procfile process on this host with honcho, after printing where each page is.

    python -m loadtest.up [process ...]        (make up: all of them)

Every port and address comes from the environment (PORT, LOCUST_PORT, ANALYTICS_LISTEN,
WORKER_METRICS_LISTEN, ANALYTICS_METRICS_LISTEN); the web and the Locust UI listen on
127.0.0.1 unless HOST (or LOCUST_WEB_HOST for Locust alone) says otherwise.
"""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from loadtest.stack import ONE_HOST_WEB, ROOT

DEFAULTS = {
    "HOST": "127.0.0.1",
    "PORT": "8000",
    "LOCUST_PORT": "8089",
    "ANALYTICS_LISTEN": "127.0.0.1:50051",
    "WORKER_METRICS_LISTEN": "127.0.0.1:9101",
    "ANALYTICS_METRICS_LISTEN": "127.0.0.1:9102",
}
ANY_ADDRESS = ("", "0.0.0.0", "::", "[::]")


def up_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the processes get: what is set, and the one-host defaults for the rest."""
    env = {**ONE_HOST_WEB, **DEFAULTS, **environ}
    env.setdefault("LOCUST_WEB_HOST", env["HOST"])
    # Locust and the web must agree on where the web is, and so must web and analytics.
    env.setdefault("TIGLE_URL", f"http://{_reachable(env['HOST'])}:{env['PORT']}")
    env.setdefault("ANALYTICS_ADDRESS", env["ANALYTICS_LISTEN"])
    return env


def _reachable(host: str) -> str:
    """A host a browser on this machine can open for a listening address."""
    if host in ANY_ADDRESS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _url(listen: str, path: str = "/metrics") -> str:
    host, _, port = listen.rpartition(":")
    return f"http://{_reachable(host)}:{port}{path}"


def pages(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """(what, where) for every page make up serves."""
    web = env["TIGLE_URL"].rstrip("/")
    return [
        ("API docs", f"{web}/api/docs/"),
        ("admin", f"{web}/admin/  (a login: .venv/bin/python manage.py createsuperuser)"),
        ("dashboard", f"{web}/dashboard/"),
        ("health", f"{web}/healthz"),
        ("web metrics", f"{web}/metrics"),
        ("Locust UI", f"http://{_reachable(env['LOCUST_WEB_HOST'])}:{env['LOCUST_PORT']}/"),
        ("worker metrics", _url(env["WORKER_METRICS_LISTEN"])),
        ("analytics metrics", _url(env["ANALYTICS_METRICS_LISTEN"])),
        ("analytics gRPC", f"{env['ANALYTICS_LISTEN']}  (.venv/bin/python -m analytics stats)"),
    ]


def banner(env: Mapping[str, str]) -> str:
    width = max(len(what) for what, _ in pages(env))
    open_to = ("this machine only" if env["HOST"] in ("127.0.0.1", "localhost", "::1")
               else f"HOST={env['HOST']}")
    lines = [f"Tigle on this host (web and Locust UI open to {open_to}); Ctrl-C stops it all,"
             " as does any one process exiting:"]
    lines += [f"  {what:<{width}}  {where}" for what, where in pages(env)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    env = up_env(os.environ)
    print(banner(env), flush=True)
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or "honcho"
    # honcho hands each process type a PORT of its own from this base: the web's is PORT.
    command = [honcho, "start", "--port", env["PORT"], *(argv if argv is not None else sys.argv[1:])]
    os.chdir(ROOT)
    os.execvpe(command[0], command, env)
    return 0  # not reached: honcho took the process over


if __name__ == "__main__":
    sys.exit(main())
