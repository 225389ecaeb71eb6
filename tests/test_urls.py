"""envcapture._urls: one masking of credentials for messages, lock files and cache keys."""

from __future__ import annotations

import pytest

from envcapture._urls import mask_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://user:tok@h.example/simple", "https://***@h.example/simple"),
        ("https://tok@h.example/simple", "https://***@h.example/simple"),
        ("https://ghp_token:x-oauth-basic@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("git+https://user:pw@host/r.git@v1.0", "git+https://***@host/r.git@v1.0"),
        ("ftp://alice:hunter2@mirror/simple", "ftp://***@mirror/simple"),
        ("https://${USER}:${TOKEN}@h.example/simple", "https://${USER}:${TOKEN}@h.example/simple"),
        ("https://${TOKEN}@h.example/simple", "https://${TOKEN}@h.example/simple"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),
        ("https://h.example/simple", "https://h.example/simple"),
        ("https://h.example/simple?next=a@b", "https://h.example/simple?next=a@b"),
        ("", ""),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_masks_every_url_inside_a_message() -> None:
    text = "pip: HTTP 401 from https://bob:pa55@a.example/simple, retried https://tok3n@b.example/x"
    assert mask_url(text) == "pip: HTTP 401 from https://***@a.example/simple, retried https://***@b.example/x"
