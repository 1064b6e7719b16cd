"""The pages' foundation with FastAPI's TestClient: sign-in and its cookie, CSRF, roles, where
a sign-in may send the user back to, the assets route, and the JSON API refusing the cookie.

Page requests send the session token as the ``sendmatch_session`` cookie the sign-in form sets
(:func:`page_cookie`); the page tests of other areas use the same helpers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.pages import assets
from api.pages.routes_home import SIGN_IN_COOKIE
from api.pages.sessions import COOKIE, csrf_token
from tests.api_client import PASSWORD


def token_of(headers: dict[str, str]) -> str:
    """The session token in a bearer header of the ``users`` fixture."""
    return headers["Authorization"].removeprefix("Bearer ")


def page_cookie(headers: dict[str, str]) -> dict[str, str]:
    """Headers sending ``headers``' token as the pages' session cookie, and no bearer token."""
    return {"Cookie": f"{COOKIE}={token_of(headers)}"}


def form_of(headers: dict[str, str], **fields: str) -> dict[str, str]:
    """A page form's fields with the session's CSRF field."""
    return {"csrf_token": csrf_token(token_of(headers)), **fields}


def sign_in_form(client: TestClient, **fields: str) -> dict[str, str]:
    """The sign-in form's fields with the token of a form just fetched (the client keeps the
    cookie set with it), as a browser sends them."""
    form = client.get("/app/sign-in")
    token = re.search(r'name="sign_in_token" value="([A-Za-z0-9_-]+)"', form.text)
    assert token is not None
    return {"sign_in_token": token.group(1), **fields}


def nav_links(html: str) -> list[str]:
    nav = html[html.index('aria-label="Pages"') : html.index("</nav>")]
    return re.findall(r'service-navigation__link" href="([^"]+)"', nav)


def test_sign_in_sets_a_strict_http_only_cookie_for_the_pages_alone(client: TestClient) -> None:
    answer = client.post(
        "/app/sign-in",
        data=sign_in_form(client, username="ADMIN", password=PASSWORD, next="/app/runs?show=mine"),
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/runs?show=mine"
    cookies = {c.partition("=")[0]: c for c in answer.headers.get_list("set-cookie")}
    assert "Max-Age=0" in cookies[SIGN_IN_COOKIE]  # the form's token is used up
    cookie = cookies[COOKIE]
    for part in ("HttpOnly", "Path=/app", "SameSite=strict", "Max-Age=28800"):
        assert part in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure


def test_a_wrong_password_is_listed_in_an_error_summary(client: TestClient) -> None:
    wrong = sign_in_form(client, username="admin", password="wrong one!!")
    answer = client.post("/app/sign-in", data=wrong)
    assert answer.status_code == 401
    assert not answer.cookies.get(COOKIE)  # only a new form's cookie is set
    assert "<title>Error: Sign in" in answer.text
    assert "govuk-error-summary" in answer.text
    assert '<a href="#username">Enter a correct username and password</a>' in answer.text


def test_sign_in_is_throttled_like_the_api(app: FastAPI, client: TestClient) -> None:
    limit = app.state.sign_in.limits.failures_per_user
    for _ in range(limit):
        wrong = sign_in_form(client, username="admin", password="wrong one!!")
        assert client.post("/app/sign-in", data=wrong).status_code == 401
    answer = client.post(
        "/app/sign-in", data=sign_in_form(client, username="admin", password=PASSWORD)
    )
    assert answer.status_code == 429
    assert "too many failed sign-ins" in answer.text
    assert not answer.cookies.get(COOKIE)


@pytest.mark.parametrize(
    "next_page",
    [
        "//evil.example/app/",
        "https://evil.example/app/",
        "/\\evil.example",
        "/app//evil.example",
        "/classic/",
        "javascript:alert(1)",
        "/app/../auth/token",
        "/app/" + "a" * 600,  # longer than any page's address
    ],
)
def test_sign_in_never_sends_the_user_to_another_site(client: TestClient, next_page: str) -> None:
    answer = client.post(
        "/app/sign-in",
        data=sign_in_form(client, username="admin", password=PASSWORD, next=next_page),
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/"
    form = client.get("/app/sign-in", params={"next": next_page})
    assert 'name="next" value="/app/"' in form.text


def test_the_sign_in_form_carries_a_fresh_token_equal_to_its_strict_cookie(
    client: TestClient,
) -> None:
    tokens = []
    for _ in range(2):
        form = client.get("/app/sign-in")
        cookie = form.headers["set-cookie"]
        assert cookie.startswith(f"{SIGN_IN_COOKIE}=")
        for part in ("HttpOnly", "Path=/app", "SameSite=strict", "Max-Age=1800"):
            assert part in cookie
        token = form.cookies[SIGN_IN_COOKIE]
        assert len(token) >= 40 and f'name="sign_in_token" value="{token}"' in form.text
        tokens.append(token)
    assert tokens[0] != tokens[1]


@pytest.mark.parametrize("forged", ["missing field", "other value", "no cookie"])
def test_a_sign_in_form_not_from_our_page_is_refused(client: TestClient, forged: str) -> None:
    """Login CSRF: another site could post its own username and password, but it cannot
    read or set the form's cookie, so the form is refused before the password is checked."""
    fields = sign_in_form(client, username="admin", password=PASSWORD)
    if forged == "missing field":
        del fields["sign_in_token"]
    elif forged == "other value":
        fields["sign_in_token"] = sign_in_form(client)["sign_in_token"][::-1]
    else:
        client.cookies.clear()
    answer = client.post("/app/sign-in", data=fields, follow_redirects=False)
    assert answer.status_code == 400
    assert not answer.cookies.get(COOKIE)
    assert "<title>Error: Sign in" in answer.text and "govuk-error-summary" in answer.text
    assert '<a href="#username">Your sign-in form expired, try again</a>' in answer.text
    # The refusal is a fresh form: sending it signs in.
    fresh = re.search(r'name="sign_in_token" value="([A-Za-z0-9_-]+)"', answer.text)
    assert fresh is not None and answer.cookies[SIGN_IN_COOKIE] == fresh.group(1)
    again = {**fields, "sign_in_token": fresh.group(1)}
    signed_in = client.post("/app/sign-in", data=again, follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.cookies.get(COOKIE)


def test_a_page_without_a_session_goes_to_sign_in_and_back(client: TestClient) -> None:
    answer = client.get("/app/runs?show=mine", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/sign-in?next=/app/runs%3Fshow%3Dmine"
    form = client.get(answer.headers["location"])
    assert 'name="next" value="/app/runs?show=mine"' in form.text
    assert "You have been signed out" not in form.text


def test_an_ended_session_says_you_have_been_signed_out(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    assert client.post("/auth/logout", headers=users["planner"]).status_code == 204
    answer = client.get("/app/runs", headers=page_cookie(users["planner"]), follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("&signed_out=1")
    assert "You have been signed out" in client.get(answer.headers["location"]).text


def test_the_json_api_does_not_accept_the_page_cookie(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    cookie = page_cookie(users["admin"])
    assert client.get("/users/me", headers=cookie).status_code == 401
    assert client.get("/users", headers=cookie).status_code == 401
    refused = client.post("/runs", json={"caseload_id": 1}, headers=cookie)
    assert refused.status_code == 401
    assert client.get("/app/", headers=cookie).status_code == 200


def test_a_form_without_its_csrf_field_is_refused(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    cookie = page_cookie(users["admin"])
    for fields in ({}, {"csrf_token": "0" * 64}, {"csrf_token": csrf_token("another token")}):
        answer = client.post("/app/sign-out", data=fields, headers=cookie)
        assert answer.status_code == 403
        assert "This form has expired" in answer.text and "govuk-heading-l" in answer.text
        assert set(NAVIGATION["admin"]) <= set(nav_links(answer.text))
    assert client.get("/users/me", headers=users["admin"]).status_code == 200  # not signed out


def test_sign_out_ends_the_session_and_clears_the_cookie(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    home = client.get("/app/", headers=page_cookie(users["admin"]))
    field = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', home.text)
    assert field is not None
    answer = client.post(
        "/app/sign-out",
        data={"csrf_token": field.group(1)},
        headers=page_cookie(users["admin"]),
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/sign-in?done=1"
    assert f'{COOKIE}=""' in answer.headers["set-cookie"]
    assert "Max-Age=0" in answer.headers["set-cookie"]
    assert client.get("/users/me", headers=users["admin"]).status_code == 401  # token revoked


def test_a_page_form_without_a_session_is_not_read(client: TestClient) -> None:
    """The body-size middleware sends it to sign in before reading a byte of the upload."""
    answer = client.post(
        "/app/caseloads/upload",
        files={"children": ("c.csv", b"x" * 1000)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/app/sign-in?")
    assert answer.headers["connection"] == "close"


#: Pages each role is offered at least (other page modules add theirs).
NAVIGATION = {
    "admin": ["/app/", "/app/caseloads", "/app/runs", "/app/users"],
    "case_officer": ["/app/", "/app/caseloads", "/app/runs"],
    "panel_member": ["/app/", "/app/caseloads", "/app/runs"],
    "planner": ["/app/", "/app/caseloads", "/app/runs"],
}


def test_each_role_is_offered_only_the_pages_it_may_use(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    for role, expected in NAVIGATION.items():
        home = client.get("/app/", headers=page_cookie(users[role]))
        links = nav_links(home.text)
        assert links[0] == "/app/" and set(expected) <= set(links), role
        assert ("/app/users" in links) == (role == "admin")
        for link in links:  # every page offered opens for the role
            shown = client.get(link, headers=page_cookie(users[role]))
            assert shown.status_code == 200, (role, link)


@pytest.mark.parametrize(
    ("role", "method", "path"),
    [
        ("planner", "GET", "/app/caseloads/upload"),
        ("panel_member", "GET", "/app/runs/new"),
        ("panel_member", "POST", "/app/runs"),
        ("case_officer", "GET", "/app/users"),
        ("planner", "POST", "/app/users"),
    ],
)
def test_a_role_may_not_use_another_roles_page(
    client: TestClient, users: dict[str, dict[str, str]], role: str, method: str, path: str
) -> None:
    answer = client.request(
        method,
        path,
        headers=page_cookie(users[role]),
        data=form_of(users[role]) if method == "POST" else None,
    )
    assert answer.status_code == 403
    assert "You cannot use this page" in answer.text
    # Still signed in: the role's own navigation and sign-out, not a dead end.
    assert set(NAVIGATION[role]) <= set(nav_links(answer.text))
    assert 'action="/app/sign-out"' in answer.text


def test_every_page_has_a_nonce_for_its_scripts_and_no_inline_allowance(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    nonces = []
    for _ in range(2):
        answer = client.get("/app/", headers=page_cookie(users["admin"]))
        policy = answer.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([A-Za-z0-9_-]+)'", policy)
        assert nonce is not None
        assert "unsafe-inline" not in policy and "style-src 'self'" in policy
        scripts = re.findall(r"<script[^>]*>", answer.text)
        assert len(scripts) == 3  # js-enabled switch, GOV.UK Frontend's module, its initAll
        assert all(f'nonce="{nonce.group(1)}"' in tag for tag in scripts)
        assert answer.headers["x-content-type-options"] == "nosniff"
        nonces.append(nonce.group(1))
    assert nonces[0] != nonces[1]


def test_a_missing_page_is_a_govuk_404(
    client: TestClient, users: dict[str, dict[str, str]]
) -> None:
    cookie = page_cookie(users["admin"])
    for path in ("/app/runs/999", "/app/nowhere"):
        answer = client.get(path, headers=cookie)
        assert answer.status_code == 404
        assert "Page not found" in answer.text and "govuk-template" in answer.text
    # A page of ours that found no run keeps the user's navigation.
    assert "/app/users" in nav_links(client.get("/app/runs/999", headers=cookie).text)
    assert client.get("/runs/999", headers=users["admin"]).json() == {"detail": "no such run"}


def test_the_root_leads_to_the_pages_and_the_single_page_app_is_gone(client: TestClient) -> None:
    answer = client.get("/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/app/")
    for retired in ("/classic/", "/static/app.js", "/static/style.css"):
        assert client.get(retired).status_code == 404


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("govuk-frontend.min.css", "text/css"),
        ("govuk-frontend.min.js", "text/javascript"),
        ("sendmatch.css", "text/css"),
        ("fonts/bold-b542beb274-v2.woff2", "font/woff2"),
        ("images/favicon.svg", "image/svg+xml"),
        ("manifest.json", "application/manifest+json"),
    ],
)
def test_govuk_frontend_is_served_from_the_pinned_package(
    client: TestClient, name: str, media_type: str
) -> None:
    answer = client.get(f"/assets/{name}")
    assert answer.status_code == 200, name
    assert answer.headers["content-type"].split(";")[0] == media_type


def test_the_pinned_version_is_the_one_installed() -> None:
    lock = (Path(__file__).parents[1] / "package-lock.json").read_text()
    installed = assets.GOVUK_DIST.parents[1] / "package.json"
    assert '"node_modules/govuk-frontend": {\n      "version": "6.3.0"' in lock
    assert '"version": "6.3.0"' in installed.read_text()


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../api/app.py",
        "/assets/%2e%2e/%2e%2e/api/app.py",
        "/assets/fonts/../../package.json",
        "/assets/fonts/..%2F..%2F..%2Fpackage.json",
        "/assets/images/%2E%2E/govuk-frontend.min.js",
        "/assets/govuk-frontend.min.css.map",
        "/assets/all.bundle.js",
        "/assets/fonts/",
        "/assets/..%5C..%5Capi%5Capp.py",
    ],
)
def test_nothing_else_is_served_as_an_asset(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404, path
    assert "def " not in answer.text and "dependencies" not in answer.text


def test_without_govuk_frontend_the_page_says_run_make_setup(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(assets, "GOVUK_DIST", tmp_path / "nothing-here")
    page = client.get("/app/sign-in")
    assert page.status_code == 200
    assert "run make setup" in page.text
    missing = client.get("/assets/govuk-frontend.min.css")
    assert missing.status_code == 404 and "run make setup" in missing.text
    assert client.get("/assets/sendmatch.css").status_code == 200
