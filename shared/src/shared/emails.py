"""What "the same email" means, everywhere: registration, login, the throttle, the migration.

Two spellings that a person reads as one address must be one account, and one throttle
counter; text that is not exactly one address must never be stored, since the welcome
email hands the stored value to an SMTP server as its recipient. So an address is:

* Unicode NFKC first, so fullwidth letters (U+FF21 for ``A``) and ligatures become their plain letters;
* then exactly one RFC 5322 addr-spec, checked by ``email-validator`` (a maintained
  validator rather than a pattern of our own): no display name, no angle brackets, no
  list, no comment, no quoted local part, no IP-literal domain, no invisible or control
  characters, no trailing dot, and a domain that IDNA 2008 accepts;
* lower case throughout; the domain in the validator's IDNA-normalised Unicode form, so
  ``exámple.com`` and ``xn--exmple-qta.com`` are one domain;
* no part (the local part, each domain label) mixing letters of two scripts, so a
  Cyrillic ``i`` (U+0456) cannot pass for a Latin ``i`` inside an otherwise Latin address.

The normalised form is compared byte for byte (the column's collation is binary on
MySQL, migration 0007), so the unique index, the login lookup and the throttle key all
agree on it.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL: Final = 255

# Scripts whose letters are written together in one word: one group, not a mix.
_SAME_WRITING: Final = {"CJK": "HAN", "HIRAGANA": "HAN", "KATAKANA": "HAN", "HANGUL": "HAN"}


class InvalidEmail(ValueError):
    """Not exactly one acceptable address; the message says why, for the client."""


def _script(char: str) -> str | None:
    """The script of a letter, by the first word of its Unicode name (None for anything else)."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0]
    return _SAME_WRITING.get(first, first) or None


def _one_script(part: str) -> bool:
    return len({s for s in map(_script, part) if s is not None}) <= 1


def normalize_email(raw: str) -> str:
    """The one stored and compared form of ``raw``; :class:`InvalidEmail` if it is not one address."""
    text = unicodedata.normalize("NFKC", raw)
    try:
        checked = validate_email(
            text,
            check_deliverability=False,  # no DNS on a request path
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_empty_local=False,
        )
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    local = unicodedata.normalize("NFKC", checked.local_part.lower())
    domain = checked.domain.lower()
    if not _one_script(local) or not all(_one_script(label) for label in domain.split(".")):
        raise InvalidEmail("The email address mixes letters of different scripts in one part.")
    email = f"{local}@{domain}"
    if len(email) > MAX_EMAIL:
        raise InvalidEmail(f"The email address is longer than {MAX_EMAIL} characters once normalised.")
    return email


def email_key(raw: str) -> str:
    """What a login looks up and counts: the normalised address (spaces around it forgiven,
    as the original did), or for text that is no address at all (which no account can
    have) the same NFKC, lower-cased text, so that its spellings still share one counter."""
    text = unicodedata.normalize("NFKC", raw).strip()
    try:
        return normalize_email(text)
    except InvalidEmail:
        return text.lower()
