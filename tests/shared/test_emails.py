"""One notion of "the same email": every spelling of an address has one normal form; anything else is refused."""

from __future__ import annotations

import pytest

from shared.emails import MAX_EMAIL, InvalidEmail, email_key, normalize_email


@pytest.mark.parametrize(
    ("spelling", "normal"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice@Example.COM", "alice@example.com"),
        ("\uff21\uff2c\uff29\uff23\uff25@example.com", "alice@example.com"),  # fullwidth letters
        ("alice@\uff45xample.com", "alice@example.com"),  # a fullwidth letter in the domain
        ("alice@ex\u00e1mple.com", "alice@ex\u00e1mple.com"),  # an accent is another domain, kept as it is
        ("alice@xn--exmple-qta.com", "alice@ex\u00e1mple.com"),  # its IDNA spelling is the same domain
        ("alice@EX\u00c1MPLE.com", "alice@ex\u00e1mple.com"),
        ("e\u0301lodie@example.com", "\u00e9lodie@example.com"),  # a combining accent composes
        ("\u7530\u4e2d@\u4f8b\u3048.jp", "\u7530\u4e2d@\u4f8b\u3048.jp"),  # one writing system per part
    ],
)
def test_spellings_of_one_address_have_one_normal_form(spelling: str, normal: str) -> None:
    assert normalize_email(spelling) == normal
    assert normalize_email(normal) == normal  # idempotent: the stored form is its own normal form
    assert email_key(spelling) == normal


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a@b.c,postmaster", id="a list of two recipients"),
        pytest.param("x<root>a@b.c", id="angle brackets"),
        pytest.param("Alice <alice@example.com>", id="a display name"),
        pytest.param("alice(comment)@example.com", id="a comment"),
        pytest.param('"al ice"@example.com', id="a quoted local part"),
        pytest.param("alice@[127.0.0.1]", id="an IP-literal domain"),
        pytest.param("al\u200bice@example.com", id="a zero-width space"),
        pytest.param("alice\u00ad@example.com", id="a soft hyphen"),
        pytest.param("alice@example.com.", id="a trailing dot"),
        pytest.param("alice@example.com\n", id="a trailing newline"),
        pytest.param("alice@exa\nmple.com", id="a newline inside"),
        pytest.param("\u0456van@example.com", id="a Cyrillic i among Latin letters"),
        pytest.param("ivan@ex\u0430mple.com", id="a Cyrillic a in a Latin domain"),
        pytest.param("alice", id="no at sign"),
        pytest.param("alice@localhost", id="no dot in the domain"),
        pytest.param("@example.com", id="no local part"),
        pytest.param("a" * 250 + "@example.com", id="too long"),
    ],
)
def test_anything_but_exactly_one_address_is_refused(text: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(text)


def test_the_normal_form_fits_the_column() -> None:
    longest = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".com"
    assert len(normalize_email(longest)) <= MAX_EMAIL


def test_a_login_forgives_spaces_around_the_address_as_the_original_did() -> None:
    assert email_key("  Alice@Example.com \n") == "alice@example.com"


def test_text_that_is_no_address_still_has_one_throttle_key_for_its_spellings() -> None:
    assert email_key("NOT AN ADDRESS") == email_key("not an address") == "not an address"
    assert email_key("\uff2e\uff2f") == "no"
