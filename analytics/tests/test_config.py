import pytest

from analytics.config import ConfigError, config_from_env, url_redacted


@pytest.mark.parametrize(("url", "shown"), [
    ("amqp://tigle:s3cret@mq:5672/tigle", "amqp://tigle:***@mq:5672/tigle"),
    ("mysql://root:p%40ss@db/tigle", "mysql://root:***@db/tigle"),
    ("amqp://guest@mq:5672//", "amqp://guest@mq:5672//"),
    ("filesystem://", "filesystem://"),
    ("amqp://a:x@n1//;amqp://a:x@n2//", "amqp://a:***@n1//;amqp://a:***@n2//"),
])
def test_a_url_is_shown_without_its_password(url, shown):
    assert url_redacted(url) == shown


def test_a_refused_broker_url_is_named_without_its_password():
    with pytest.raises(ConfigError, match="CELERY_BROKER_URL") as refused:
        config_from_env({"CELERY_BROKER_URL": "redis://tigle:s3cret@cache:6379/0"})
    assert "s3cret" not in str(refused.value) and "tigle:***@cache" in str(refused.value)


def test_the_catalogue_size_is_read_and_checked():
    assert config_from_env({}).items == 0
    assert config_from_env({"ANALYTICS_ITEMS": "100000"}).items == 100_000
    with pytest.raises(ConfigError, match="ANALYTICS_ITEMS"):
        config_from_env({"ANALYTICS_ITEMS": "many"})
