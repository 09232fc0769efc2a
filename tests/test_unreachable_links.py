"""While PUBLIC_URL is a loopback or private address, logged-in pages say that clients cannot open the links."""

import pytest

from links import unreachable_host


@pytest.mark.parametrize(
    "url, host",
    [
        ("http://127.0.0.1:5000", "127.0.0.1"),
        ("http://localhost:5000", "localhost"),
        ("http://[::1]:5000", "::1"),
        ("http://192.168.1.20", "192.168.1.20"),
        ("http://10.0.0.5:8000", "10.0.0.5"),
        ("http://172.20.1.1", "172.20.1.1"),
        ("http://hearth.local", "hearth.local"),
        ("http://169.254.1.1", "169.254.1.1"),
        ("http://0.0.0.0:5000", "0.0.0.0"),
        ("https://hearth.example.com", None),
        ("http://93.184.216.34", None),
        ("https://8.8.8.8", None),
    ],
)
def test_unreachable_host(url, host):
    assert unreachable_host(url) == host


def test_logged_in_pages_warn_and_link_the_help(app, logged_in):
    page = logged_in.get("/clients/").get_data(as_text=True)
    assert "Links you send point at 127.0.0.1: clients can’t open them." in page
    assert '<a href="/account/help/public-url">Set PUBLIC_URL</a>' in page
    help_page = logged_in.get("/account/help/public-url").get_data(as_text=True)
    assert "<code>http://127.0.0.1:5000</code>" in help_page
    assert "Set <code>PUBLIC_URL</code> to the address your clients reach" in help_page  # from the README


def test_no_warning_with_a_public_address_or_for_visitors(app, client, therapist):
    assert "clients can’t open them" not in client.get("/login").get_data(as_text=True)
    app.config["PUBLIC_URL"] = "https://hearth.example.com"
    from conftest import login

    login(client)
    assert "clients can’t open them" not in client.get("/clients/").get_data(as_text=True)
