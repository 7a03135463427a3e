import secrets

import pytest

# The process-driving fixtures of the ingest tests serve the analytics tests too.
from purchases.tests.conftest import (  # noqa: F401
    broker,
    own_stack,
    pytest_runtest_makereport,
    stack,
    test_database_url,
)
from purchases.tests.run_env import AMQP, VHOST
from loadtest.service_admin import rabbitmqctl, vhost_add


@pytest.fixture
def vhost_new():
    """Makes vhosts of this test's own, removed after it: vhost_new() -> (broker URL, vhost)."""
    made = []

    def new() -> tuple[str, str]:
        vhost = f"{VHOST}-{secrets.token_hex(3)}"
        vhost_add(AMQP, vhost)
        made.append(vhost)
        return f"{AMQP}/{vhost}", vhost

    yield new
    for vhost in made:
        rabbitmqctl("delete_vhost", vhost)
