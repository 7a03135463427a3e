"""A RabbitMQ cluster of a test's own on this machine, beside the machine's broker.

Each node has its own name, AMQP and inter-node ports, data, logs, configuration, enabled
plugins and Erlang cookie, all under the test's folder: nothing of the machine's node (or
its cookie) is read or touched. Nodes are started with /usr/lib/rabbitmq/bin's scripts,
not /usr/sbin's wrappers, which switch to the rabbitmq user and the machine's cookie.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from loadtest.stack import free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
START_SECONDS = 120

# pause_minority, as the deployment's nodes run: a node cut off from the others stops
# instead of taking writes the majority never sees.
CONFIG = """\
listeners.tcp.1 = 127.0.0.1:{port}
cluster_partition_handling = pause_minority
log.console = false
log.file.level = info
"""


def _start_argv() -> list[str]:
    # A test run that is killed leaves no broker running: the start script gets SIGTERM
    # when the thread that started it ends, and stops its node. setpriv (util-linux) sets
    # that before the exec, where a preexec_fn could deadlock beside the test's threads.
    script = str(RABBITMQ_BIN / "rabbitmq-server")
    return ["setpriv", "--pdeathsig", "TERM", script] if shutil.which("setpriv") else [script]


@dataclass
class Node:
    name: str
    port: int
    folder: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    @property
    def pid_file(self) -> Path:
        return self.folder / "node.pid"

    def start(self) -> None:
        """Start the node's VM (it rejoins its cluster by itself); wait() for it after.

        Call from a thread that outlives the node: the node is stopped when it ends."""
        self.pid_file.unlink(missing_ok=True)  # or wait() would take a killed VM's pid
        with (self.folder / "server.out").open("ab") as out:
            self.process = subprocess.Popen(
                _start_argv(), env=self.env, cwd=self.folder, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def ctl(self, *args: str, timeout: float = 90) -> str:
        """rabbitmqctl against this node; raises with its output when it fails."""
        done = subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.name, *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.name} {' '.join(args)}: "
                               f"{done.stdout}{done.stderr}")
        return done.stdout

    def wait(self) -> None:
        """Until the node's VM wrote its pid file and RabbitMQ runs on it."""
        self.ctl("wait", str(self.pid_file), "--timeout", str(START_SECONDS),
                 timeout=START_SECONDS + 30)

    def beam_pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def kill(self) -> None:
        """kill -9 of the node's Erlang VM, as in a crash; its start script then ends."""
        os.kill(self.beam_pid(), signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # the start script stops RabbitMQ, then the VM exits
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(self.beam_pid(), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            self.process.kill()
            self.process.wait(timeout=10)


def node_make(folder: Path, name: str, home: Path) -> Node:
    folder.mkdir(parents=True)
    port = free_port()
    (folder / "rabbitmq.conf").write_text(CONFIG.format(port=port))
    (folder / "enabled_plugins").write_text("[].\n")
    (folder / "advanced.config").write_text("[].\n")
    (folder / "rabbitmq-env.conf").write_text("")  # instead of the machine's
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
        "HOME": str(home),  # the cluster's Erlang cookie, for nodes and rabbitmqctl alike
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_PID_FILE": str(folder / "node.pid"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        # Inter-node traffic on loopback only, as the machine's own node has it.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    return Node(name=name, port=port, folder=folder, env=env)


class Cluster:
    """Three (or more) nodes joined into one cluster; stop() ends them all."""

    def __init__(self, folder: Path, size: int = 3) -> None:
        home = folder / "home"
        home.mkdir(parents=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        # Unique per run: two runs on one host must not meet in the machine's epmd.
        tag = secrets.token_hex(2)
        self.nodes = [node_make(folder / f"c{i}", f"tigle-{tag}-c{i}@localhost", home)
                      for i in range(1, size + 1)]
        self.start_seconds = 0.0

    @property
    def broker_url(self) -> str:
        """CELERY_BROKER_URL naming every node, as the deployment writes it."""
        return ";".join(node.url for node in self.nodes)

    def start(self) -> None:
        """Start every node at once, then join the others to the first."""
        started = time.monotonic()
        for node in self.nodes:
            node.start()
        first, *others = self.nodes
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(Node.wait, self.nodes))
            list(pool.map(lambda node: node.ctl("stop_app"), others))
            lock = threading.Lock()  # one join at a time: the first node's schema changes

            def join(node: Node) -> None:
                with lock:
                    node.ctl("join_cluster", first.name)
                node.ctl("start_app")

            list(pool.map(join, others))
        running = set(json.loads(first.ctl("cluster_status", "--formatter", "json"))
                      ["running_nodes"])
        if running != {node.name for node in self.nodes}:
            raise RuntimeError(f"cluster formed of {sorted(running)} only")
        self.start_seconds = round(time.monotonic() - started, 1)

    def queues(self, node: Node | None = None) -> dict[str, dict]:
        """Each queue of the vhost "/" with its type, members and leader, as a node says."""
        out = (node or self.nodes[0]).ctl("list_queues", "name", "type", "members", "leader",
                                          "--formatter", "json")
        return {queue["name"]: queue for queue in json.loads(out)}

    def by_port(self, port: int) -> Node | None:
        return next((node for node in self.nodes if node.port == port), None)

    def by_name(self, name: str) -> Node | None:
        return next((node for node in self.nodes if node.name == name), None)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            node.stop()
