import pytest

from tigle_project.tests.web_process import web


@pytest.fixture
def server(tmp_path):
    """Two web processes of four threads on a port of their own: (process, port)."""
    process, port = web(tmp_path, "web")
    yield process, port
    process.stop()
