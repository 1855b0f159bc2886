import pytest
from django.urls import reverse

from monitoring.config import MonitorConfig
from monitoring.models import CheckState
from monitoring.services import LISTS, monitoring_run
from tests.monitoring.conftest import HELO, SERVER_IPV4, list_entry

pytestmark = pytest.mark.django_db


def test_it_shows_the_findings_and_their_advice_on_the_admin_index(
    admin_client, working_zones, dns
):
    list_entry(dns, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.10")
    config = MonitorConfig(resolver=dns.address, ipv4=SERVER_IPV4, helo=HELO)
    monitoring_run(kind=LISTS, config=config)
    response = admin_client.get(reverse("admin:index"))
    html = response.content.decode()
    assert 'class="module mon-panel mon-red"' in html
    assert "marks as residential or dynamic" in html
    assert "What to do: Send through a relay host" in html


def test_it_says_when_no_check_has_run(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "No check has run yet" in html


def test_it_shows_a_check_page_with_its_history(admin_client, working_zones, dns):
    config = MonitorConfig(resolver=dns.address, ipv4=SERVER_IPV4, helo=HELO)
    monitoring_run(kind=LISTS, config=config)
    list_entry(dns, "zen.spamhaus.org", SERVER_IPV4, "127.0.0.2")
    monitoring_run(kind=LISTS, config=config)
    state = CheckState.objects.get(key=f"dnsbl:{SERVER_IPV4} on zen.spamhaus.org")
    html = admin_client.get(state.get_absolute_url()).content.decode()
    assert html.count("<tr><td>") == 2
    assert "Not listed on zen.spamhaus.org." in html


def test_it_lets_admins_edit_zones(admin_client):
    response = admin_client.get(reverse("admin:monitoring_dnsblzone_changelist"))
    assert response.status_code == 200
    assert "zen.spamhaus.org" in response.content.decode()


def test_it_says_when_the_checks_have_stopped(admin_client, working_zones, dns):
    from datetime import timedelta

    from django.utils import timezone

    from monitoring.models import CheckRun

    config = MonitorConfig(resolver=dns.address, ipv4=SERVER_IPV4, helo=HELO)
    monitoring_run(kind=LISTS, config=config)
    CheckRun.objects.update(started=timezone.now() - timedelta(hours=4))
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "have not been checked for over three hours" in html
