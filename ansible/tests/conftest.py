"""Fixtures of the deployment tests; the ingest tests' process fixtures serve them too."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The process-driving fixtures of the ingest tests serve the deployment tests too.
from purchases.tests.conftest import (  # noqa: F401
    broker,
    own_stack,
    pytest_runtest_makereport,
    stack,
    test_database_url,
)
from loadtest.stack import ROOT

ANSIBLE = ROOT / "ansible"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def run_ansible():
    """Runs an Ansible command in ansible/ with this virtualenv's tools first on PATH (so a
    tool is named, not located); fails on an error."""

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_FORCE_COLOR": "0"}
        result = subprocess.run(list(args), cwd=ANSIBLE, env=env, capture_output=True, text=True,
                                timeout=900)
        if check:
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        return result

    return run
