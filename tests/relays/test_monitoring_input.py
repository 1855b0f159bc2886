"""Monitoring learns about the default relay from the relays app."""

import pytest

from monitoring.config import MonitorConfig
from tests.relays.conftest import make_relay

pytestmark = pytest.mark.django_db


def test_it_tells_monitoring_about_the_default_relay_only():
    make_relay(name="some domains", host="a.isp.example", username="u")
    assert MonitorConfig.from_settings().relay_host == ""
    make_relay(name="all", host="b.isp.example", username="u", is_default=True)
    config = MonitorConfig.from_settings()
    assert config.relay_host == "[b.isp.example]:587"
    assert config.relay_hostname == "b.isp.example"
