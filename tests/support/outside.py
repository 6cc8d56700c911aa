"""Text from outside as the tests make it: a proxy's page with its title, an API message
full of escapes and invisible characters, and token-like blobs, for the sanitizer's tests
and for the stand-in to answer with."""

from __future__ import annotations

import base64
import secrets

from tests.support.standin import proxy_page

TITLE = "Request blocked by the firewall"


# What a WAF answers the token call with: 23 KB of HTML, the reason in its title.
PROXY_PAGE = proxy_page(TITLE)


# An API message with a BOM, terminal escapes (colour, a window title, a clear screen),
# a bidi override and a zero-width space in it.
HOSTILE = (
    "\ufeffrequest \x1b[31mrefused\x1b[0m\x1b]0;owned\x07 by \u202epolicy\u200b "
    "gateway\x1b[2J\r\nsee\tlogs"
)


def random_blob(size: int = 48) -> str:
    """A token-like run of base64 with upper case, lower case and digits in it."""
    while True:
        blob = base64.b64encode(secrets.token_bytes(size)).decode()
        if all(any(test(c) for c in blob) for test in (str.isupper, str.islower, str.isdigit)):
            return blob
