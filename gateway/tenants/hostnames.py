"""The one host-name normaliser: every spelling of a DNS name becomes one key.

Host headers, SNI, custom-domain claims and settings all go through
`normalise_host_name`, so a name a tenant claims, the Host a browser sends for
it and the SNI it opens the connection with meet in the same dictionary key.
Internationalised labels follow IDNA 2008 with the UTS #46 mapping
(non-transitional, as browsers do): `straße.example` is `xn--strae-oqa.example`,
never `strasse.example` (Python's own "idna" codec is IDNA 2003 and gets this wrong).
"""

from __future__ import annotations

import re

import idna

MAX_NAME_LENGTH = 253  # RFC 1035 section 2.3.4, without the trailing dot
MAX_LABEL_LENGTH = 63

# Letters, digits and hyphens, no hyphen at either end (RFC 1123 section 2.1).
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_ASCII_LETTERS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# UTS #46 section 2.3: these separate labels like "." does.
_LABEL_SEPARATORS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


class InvalidHostName(ValueError):
    """The text is no DNS host name; the message says what is wrong, in plain words."""


def normalise_host_name(text: str) -> str:
    """`text` as its canonical key: lower case, A-labels, no trailing dot; else InvalidHostName.

    One trailing dot is dropped (the root); labels are 1 to 63 characters of
    letters, digits and inner hyphens once encoded, the whole name at most 253.
    An `xn--` label must be a valid A-label that encodes back to itself, so a
    name has exactly one spelling. The result normalises to itself. IP
    literals are not special here: callers decide whether they accept them.
    """
    name = text.translate(_LABEL_SEPARATORS)
    if name.endswith("."):
        name = name[:-1]
    if not name:
        raise InvalidHostName("the host name is empty")
    if name.endswith("."):
        raise InvalidHostName("the host name ends with more than one dot")
    canonical = ".".join(_label(label) for label in name.split("."))
    if len(canonical) > MAX_NAME_LENGTH:
        raise InvalidHostName(f"the host name is longer than {MAX_NAME_LENGTH} characters")
    return canonical


def _label(label: str) -> str:
    if not label:
        raise InvalidHostName("the host name has an empty label")
    if label.isascii():
        label = label.translate(_ASCII_LETTERS)
        if label.startswith("xn--"):
            _check_a_label(label)
    else:
        label = _to_a_label(label)
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidHostName(
            f"a label of the host name is longer than {MAX_LABEL_LENGTH} characters"
        )
    if not _LDH_LABEL.fullmatch(label):
        raise InvalidHostName(
            "the host name may only hold letters, digits and inner hyphens in each label"
        )
    return label


def _to_a_label(label: str) -> str:
    if len(label) > MAX_NAME_LENGTH:  # bounds the work idna does on hostile input
        raise InvalidHostName(f"the host name is longer than {MAX_NAME_LENGTH} characters")
    try:
        encoded = idna.encode(label, uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidHostName("the host name is not a valid internationalised name") from None
    if "." in encoded or not encoded:
        raise InvalidHostName("the host name is not a valid internationalised name")
    if encoded.startswith("xn--"):
        _check_a_label(encoded)
    return encoded


def _check_a_label(label: str) -> None:
    # An A-label must decode, and encode back to itself, so one name has one spelling.
    try:
        round_trip = idna.encode(idna.decode(label)).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidHostName("the host name has a malformed xn-- label") from None
    if round_trip != label:
        raise InvalidHostName("the host name has a malformed xn-- label")
