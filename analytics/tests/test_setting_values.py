import pytest

from analytics.config import ConfigError, addresses_from_env, config_from_env
from analytics.setting_values import host_port_split


@pytest.mark.parametrize(("address", "split"), [
    ("127.0.0.1:50051", ("127.0.0.1", 50051)),
    ("[::1]:9101", ("::1", 9101)),
    (" analytics-1.internal:65535 ", ("analytics-1.internal", 65535)),
])
def test_an_address_is_split_into_host_and_port(address, split):
    assert host_port_split(address) == split


@pytest.mark.parametrize("address", [
    "localhost", ":80", "host:", "host:65536", "host:-1", "host:8o", "host:١٢", "host:²",
    "[]:9101", "[::1:80", "a b:80", "[x]]:1",
])
def test_an_address_without_a_real_port_is_refused(address):
    with pytest.raises(ValueError, match="is not host:port"):
        host_port_split(address, listening=True)


def test_port_zero_is_for_listening_only():
    assert host_port_split("127.0.0.1:0", listening=True) == ("127.0.0.1", 0)
    with pytest.raises(ValueError, match="port 0 is for listening, not for connecting to"):
        host_port_split("127.0.0.1:0")


def test_analytics_listens_on_port_zero_but_never_asks_a_replica_there():
    config = config_from_env({"ANALYTICS_LISTEN": "127.0.0.1:0",
                              "ANALYTICS_METRICS_LISTEN": "127.0.0.1:0"})
    assert (config.listen, config.metrics_listen) == ("127.0.0.1:0", "127.0.0.1:0")
    with pytest.raises(ConfigError, match="ANALYTICS_ADDRESS='a:1:0': port 0 is for listening"):
        addresses_from_env({"ANALYTICS_ADDRESS": "b:50051,a:1:0"})
