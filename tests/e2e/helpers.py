"""Steps many browser tests share."""

from conftest import PASSWORD


def log_in(page, email="dana@example.com", password=PASSWORD):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").wait_for()
