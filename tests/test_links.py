"""The one-time URLs' decisions, without I/O: random, bound to one charger and kind, expiring, used once."""

from __future__ import annotations

import pytest

from bmw_wallbox.maintenance.links import BUSY, EXPIRED, FOREIGN, MAX_LINKS, UNKNOWN, USED, Kind, Link, Links


class Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_link_is_random_and_url_safe() -> None:
    """Tokens are at least 16 URL-safe characters, and never the same twice."""
    links = Links()
    tokens = {links.issue(Kind.UPLOAD, "A", f"t{n}", ttl_s=60).token for n in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 16 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


@pytest.mark.parametrize(
    ("charger", "kind", "after_s", "expected"),
    [
        ("A", Kind.UPLOAD, 0.0, "link"),
        ("B", Kind.UPLOAD, 0.0, FOREIGN),
        ("A", Kind.DOWNLOAD, 0.0, UNKNOWN),
        ("A", Kind.UPLOAD, 60.0, EXPIRED),
    ],
)
def test_check(charger: str, kind: Kind, after_s: float, expected: object) -> None:
    """Only its own charger may use a link, for its own kind, before it expires."""
    clock = Clock()
    links = Links(clock=clock)
    link = links.issue(Kind.UPLOAD, "A", "log1", ttl_s=60)
    clock.now += after_s
    found = links.check(link.token, kind, charger)
    assert (found is link) if expected == "link" else (found == expected)


def test_used_busy_and_interrupted() -> None:
    """A transfer under way blocks a second; an interrupted one may be tried again; a complete one uses it up."""
    links = Links(clock=Clock())
    link = links.issue(Kind.DOWNLOAD, "A", "fw.bin", ttl_s=60)
    links.begin(link)
    busy = links.check(link.token, Kind.DOWNLOAD, "A")
    links.end(link, complete=False)
    again = links.check(link.token, Kind.DOWNLOAD, "A")
    links.begin(link)
    links.end(link, complete=True)
    assert (busy, again, links.check(link.token, Kind.DOWNLOAD, "A")) == (BUSY, link, USED)


def test_revoke_and_bound() -> None:
    """Revoking a target uses its links up; past ``MAX_LINKS`` the oldest is forgotten."""
    links = Links(clock=Clock())
    first = links.issue(Kind.UPLOAD, "A", "log1", ttl_s=60)
    links.revoke("A", "log1")
    assert links.check(first.token, Kind.UPLOAD, "A") == USED
    issued: list[Link] = [links.issue(Kind.UPLOAD, "A", f"log{n}", ttl_s=60) for n in range(MAX_LINKS)]
    assert links.check(first.token, Kind.UPLOAD, "A") == UNKNOWN
    assert links.check(issued[-1].token, Kind.UPLOAD, "A") is issued[-1]
