"""The dashboard in a real browser against a real `qm serve`: sign in, forms and the
server's errors beside their fields, live events, and a client token's limits."""

from __future__ import annotations

import json
import re
import urllib.error

import pytest

from conftest import ADMIN

TABS = ["fleet", "credentials", "resources", "bookings", "costs", "quotas"]
SIZES = {"wide": (1280, 800), "narrow": (390, 844)}


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.base + "/")
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"


def sign_in(page, token: str):
    page.fill("#signin-form input[name=token]", token)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#live.on")


def tab(page, name: str):
    page.click(f".tabs a[data-tab={name}]")
    page.wait_for_selector(f"#tab-{name}:not([hidden])")


def field_error(page, form: str, field: str):
    return page.locator(f"{form} .field[data-fields~={field}] .field-error")


def money_text(page, selector: str) -> float:
    text = page.locator(selector).inner_text()
    return float(re.sub(r"[$,]", "", text))


def test_a_bad_token_is_refused_beside_the_token_field(page):
    page.fill("#signin-form input[name=token]", "not-a-token")
    page.click("#signin-form button[type=submit]")
    error = field_error(page, "#signin-form", "token")
    error.wait_for()
    assert "bearer token" in error.inner_text()
    assert page.locator("#app").is_hidden()


def test_admin_creates_a_resource_and_books_it_twice_into_a_conflict(page, server):
    sign_in(page, ADMIN)
    tab(page, "resources")
    form = "#resource-form"
    page.fill(f"{form} input[name=id]", "gpu-box-1")
    page.fill(f"{form} input[name=name]", "GPU box 1")
    page.select_option(f"{form} select[name=kind]", "gpu")
    page.fill(f"{form} input[name=cost_per_hour]", "-3")
    page.click(f"{form} button[type=submit]")
    error = field_error(page, form, "cost_per_hour")
    error.wait_for()
    assert "cost_per_hour" in error.inner_text()

    page.fill(f"{form} input[name=cost_per_hour]", "2.75")
    page.fill(f"{form} input[name=tags]", "a100, eu")
    page.click(f"{form} button[type=submit]")
    page.locator("#resources td", has_text="GPU box 1").wait_for()
    assert page.locator(f"{form} .field-error").count() == 0

    tab(page, "bookings")
    form = "#booking-form"
    page.locator(f"{form} select[name=resource_id] option[value=gpu-box-1]").wait_for(state="attached")
    page.select_option(f"{form} select[name=resource_id]", "gpu-box-1")
    page.fill(f"{form} input[name=client]", "a")
    page.fill(f"{form} input[name=purpose]", "training run")
    page.click(f"{form} button[type=submit]")
    page.locator("#timeline .tl-row[data-resource=gpu-box-1] .tl-booking").first.wait_for()
    page.locator("#bookings td", has_text="$2.75").first.wait_for()

    page.click(f"{form} button[type=submit]")
    conflict = field_error(page, form, "start_time")
    conflict.wait_for()
    assert "conflicts with confirmed booking" in conflict.inner_text()
    page.locator("#timeline .tl-booking.conflict").wait_for()

    # An end before the start: the server names `end`, shown at the End field.
    page.fill(f"{form} input[name=end_time]", "2020-01-01T00:00")
    page.click(f"{form} button[type=submit]")
    field_error(page, form, "end_time").wait_for()


def test_recording_a_cost_changes_the_total(page, server):
    sign_in(page, ADMIN)
    tab(page, "costs")
    page.locator("#cost-total", has_text="$").wait_for()
    before = money_text(page, "#cost-total")
    overview_before = money_text(page, "#ov-cost")

    form = "#cost-form"
    page.fill(f"{form} input[name=client]", "a")
    page.fill(f"{form} input[name=category]", "gpt-4")
    page.fill(f"{form} input[name=amount]", "-5")
    page.click(f"{form} button[type=submit]")
    field_error(page, form, "amount").wait_for()

    page.fill(f"{form} input[name=amount]", "1384.10")
    page.click(f"{form} button[type=submit]")
    page.wait_for_function(
        "([before]) => Number(document.querySelector('#cost-total').textContent.replace(/[$,]/g, '')) > before",
        arg=[before],
    )
    after = money_text(page, "#cost-total")
    assert after == pytest.approx(before + 1384.10)
    assert "$1,384.10" in page.locator("#cost-items").inner_text()
    assert page.locator("#by-category .bar-row", has_text="gpt-4").count() == 1
    page.wait_for_function(
        "([before]) => Number(document.querySelector('#ov-cost').textContent.replace(/[$,]/g, '')) > before",
        arg=[overview_before],
    )


def test_a_started_request_appears_live_in_the_feed(page, server):
    sign_in(page, ADMIN)
    tab(page, "fleet")
    answer = server.call("POST", "/api/queue/enqueue",
                         {"client": "a", "class": "fast", "needs": [{"pool": "gpu", "amount": 1}],
                          "estimated_cost": 0.5})
    request = answer["request_id"]
    started = page.locator("#feed li[data-type='request.started']", has_text=f"request #{request}")
    started.wait_for(timeout=10_000)
    assert "client" not in started.inner_text() or "a" in started.inner_text()
    # The pool gauge and the queue table follow.
    page.locator("#pools .gauge", has_text="gpu").wait_for()
    page.locator("#queue td", has_text="fast").wait_for()
    server.call("POST", f"/api/execution/{request}/complete", {"actual_cost": 0.4})
    page.locator("#feed li[data-type='request.finished']", has_text=f"request #{request}").wait_for(timeout=10_000)


def test_the_vault_reveals_a_value_only_on_a_click(page, server):
    sign_in(page, ADMIN)
    tab(page, "credentials")
    form = "#credential-form"
    page.fill(f"{form} input[name=name]", "openai-prod")
    page.fill(f"{form} input[name=service]", "openai")
    page.fill(f"{form} input[name=owner]", "a")
    page.fill(f"{form} input[name=value]", "sk-live-123")
    page.click(f"{form} button[type=submit]")
    row = page.locator("#credentials tr", has_text="openai-prod")
    row.wait_for()
    assert "sk-live-123" not in row.inner_text()
    row.locator("button[data-action=reveal]").click()
    row.locator("td.secret", has_text="sk-live-123").wait_for()
    # A name is required: the server's error sits under Name.
    page.fill(f"{form} input[name=service]", "x")
    page.click(f"{form} button[type=submit]")
    field_error(page, form, "name").wait_for()


def test_quota_gauges_mark_the_warning_and_reset(page, server):
    sign_in(page, ADMIN)
    tab(page, "quotas")
    form = "#quota-form"
    page.fill(f"{form} input[name=id]", "a-calls")
    page.fill(f"{form} input[name=scope]", "a")
    page.fill(f"{form} input[name=metric]", "api_calls")
    page.fill(f"{form} input[name=limit]", "0")
    page.click(f"{form} button[type=submit]")
    field_error(page, form, "limit").wait_for()
    page.fill(f"{form} input[name=limit]", "100")
    page.fill(f"{form} input[name=warning_threshold]", "0.7")
    page.click(f"{form} button[type=submit]")
    # Saved once the page lists it; only then is there usage to set.
    page.locator("#quotas [data-id=a-calls]").wait_for()
    server.call("PUT", "/api/quotas/a-calls/usage", {"used": 75})
    gauge = page.locator("#quotas [data-id=a-calls]")
    gauge.locator(".gauge-fill.warn").wait_for()
    assert gauge.locator(".gauge-mark").evaluate("e => e.style.left") == "70%"
    assert "75 of 100 used" in gauge.inner_text()
    gauge.locator("button[data-action=reset]").click()
    page.locator("#quotas [data-id=a-calls]", has_text="0 of 100 used").wait_for()
    server.call("PUT", "/api/quotas/a-calls/usage", {"used": 90})


def test_a_client_token_sees_only_its_own_client(page, server):
    # Client b's data, made by the admin: a cost, a credential, a booking.
    server.call("POST", "/api/costs", {"client": "b", "type": "hosting", "category": "b-secret-hosting", "amount": 77})
    cred = server.call("POST", "/api/credentials",
                       {"name": "b-private-key", "type": "api_key", "service": "s", "owner": "b", "value": "b-secret"})
    server.call("POST", "/api/resources", {"id": "shared-srv", "name": "Shared", "kind": "server", "cost_per_hour": 1})
    server.call("POST", "/api/bookings", {"resource_id": "shared-srv", "client": "b",
                                          "start_time": "2099-01-01T00:00:00Z", "end_time": "2099-01-01T01:00:00Z"})

    sign_in(page, server.a)
    assert page.locator("#who").inner_text() == "client a"
    assert page.locator("#resource-form").is_hidden()
    tab(page, "costs")
    page.locator("#cost-total", has_text="$").wait_for()
    page.locator("#by-client .bar-row").first.wait_for()
    assert "b-secret-hosting" not in page.locator("#tab-costs").inner_text()
    assert page.locator("#by-client .bar-label", has_text="b").count() == 0
    tab(page, "credentials")
    page.locator("#credentials").wait_for()
    page.wait_for_timeout(300)
    assert "b-private-key" not in page.locator("#credentials").inner_text()
    tab(page, "bookings")
    page.locator("#bookings").wait_for()
    page.wait_for_timeout(300)
    assert "b" not in [c.strip() for c in page.locator("#bookings td:nth-child(3)").all_inner_texts()]
    tab(page, "quotas")
    page.locator("#quotas [data-id=a-calls]").wait_for()

    # And the server refuses it whatever the page does.
    for path in ("/api/costs?client=b", f"/api/credentials/{cred['id']}", "/api/bookings?client=b",
                 "/api/fleet/queue?client=b", "/api/costs/series?client=b", "/api/usage/b"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.call("GET", path, token=server.a)
        assert refused.value.code == 403, path
    series = server.call("GET", "/api/fleet/series", token=server.a)
    assert all("spent" not in s for s in series["samples"])
    status = page.evaluate(
        """async ([token]) => (await fetch('/api/costs?client=b', {headers: {Authorization: 'Bearer ' + token}})).status""",
        [server.a],
    )
    assert status == 403


def test_screenshots_of_every_tab(browser, server, screenshots):
    # More traffic so the charts have something to draw.
    for i in range(3):
        server.call("POST", "/api/costs", {"client": "a", "type": "api_usage", "category": f"model-{i}", "amount": 12.5 * (i + 1)})
    for size_name, (width, height) in SIZES.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(server.base + "/")
        page.screenshot(path=str(screenshots / f"signin-{size_name}.png"))
        sign_in(page, ADMIN)
        for name in TABS:
            tab(page, name)
            if name == "fleet":
                # A request started while watching, so the live feed has a line.
                answer = server.call("POST", "/api/queue/enqueue",
                                     {"client": "a", "class": "normal", "needs": [{"pool": "gpt4", "amount": 1500}],
                                      "estimated_cost": 0.05})
                page.locator("#feed li", has_text=f"request #{answer['request_id']}").first.wait_for()
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(400)
            page.screenshot(path=str(screenshots / f"{name}-{size_name}.png"), full_page=True)
        context.close()
    shots = sorted(p.name for p in screenshots.glob("*.png"))
    assert len(shots) >= 2 * (len(TABS) + 1), shots
