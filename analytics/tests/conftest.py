import secrets
import urllib.parse

import pytest

# The process-driving fixtures of the ingest tests serve the analytics tests too.
from purchases.tests.conftest import (  # noqa: F401
    broker,
    pytest_runtest_makereport,
    stack,
    test_database_url,
)
from purchases.tests.run_env import AMQP, VHOST, rabbitmqctl


@pytest.fixture
def own_stack(stack):
    """The stack on a vhost of this test's own: a stream cannot be purged between tests."""
    vhost = f"{VHOST}-{secrets.token_hex(3)}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, urllib.parse.urlsplit(AMQP).username or "guest",
                ".*", ".*", ".*")
    stack.env["CELERY_BROKER_URL"] = f"{AMQP}/{vhost}"
    stack.vhost = vhost
    yield stack
    stack.stop()
    rabbitmqctl("delete_vhost", vhost)
