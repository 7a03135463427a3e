import pytest

from tigle_project.tests.web_process import web_running


@pytest.fixture
def server(tmp_path):
    """Two web processes of four threads on a port of their own: (process, port)."""
    with web_running(tmp_path, "web") as started:
        yield started
