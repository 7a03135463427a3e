# The process-driving fixtures of the ingest tests serve the load client's tests too.
from purchases.tests.conftest import (  # noqa: F401
    broker,
    own_stack,
    pytest_runtest_makereport,
    stack,
    test_database_url,
)
