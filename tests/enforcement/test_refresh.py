"""Following the mirror while changes flow through it: after each read of the refresher every
change made before it is in the index, none lost, none applied out of order, whatever falls
between two reads or within one. The stream is drawn from a fixed seed, and time plays no part:
the refresher is ticked by hand."""

import random

import pytest

from beian.core.catalogue import AccessEnded
from beian.enforcement import mirror as db
from beian.enforcement.index import Index
from beian.enforcement.mirror import OrmMirror
from beian.enforcement.refresher import Refresher
from beian.provider.models import FiledWebsite

pytestmark = pytest.mark.django_db(databases=["default", "bureau"])

# What a change does to a website's access, as sync writes it from the bureau's snapshot.
ACCESS = {
    "cancel": {"access": "ended", "ended": AccessEnded.CANCELLED},
    "restore": {"access": "active", "ended": ""},
    "transfer_in": {"access": "provisional", "ended": ""},
    "not_approved": {"access": "ended", "ended": AccessEnded.NOT_APPROVED},
    "touch": {},  # a change elsewhere in the filing (its name, an IP): a new version, same serving
}


class Stream:
    """Changes of every kind, drawn from a seed, written as sync writes them."""

    def __init__(self, rows, seed: int, websites: int = 30):
        self.rows, self.rnd = rows, random.Random(seed)
        self.live = [rows.website(f"site{n}.cn") for n in range(websites)]
        self.dead: list[FiledWebsite] = []  # deregistered, their domain free to be filed again
        self.gone: list[FiledWebsite] = []  # every website deregistered
        self.extra = 0

    def one(self) -> None:
        rnd, site = self.rnd, self.rnd.choice(self.live)
        kind = rnd.choice([*ACCESS, "add_domain", "drop_domain", "deregister", "file_again"])
        names = list(site.domains.values_list("name", flat=True))
        if kind in ACCESS:
            self.rows.change(site, **ACCESS[kind])
        elif kind == "add_domain":
            self.extra += 1
            self.rows.change(site, domains=[*names, f"extra{self.extra}.com"])
        elif kind == "drop_domain" and len(names) > 1:
            self.rows.change(site, domains=names[:-1])
        elif kind == "deregister" and len(self.live) > 10:
            self.live.remove(site)
            self.rows.deregister(site)
            self.gone.append(site)
            self.dead.append(site)
        elif kind == "file_again" and self.dead:
            # A deregistered website's domain filed again, once, on a new website (R7: a new
            # number); now and then the old one changes too, and must not take the domain back.
            # (Not later: then the index's latest word on the domain would be the old website's,
            # while the database decision prefers the domain's row; both refuse it.)
            old = self.dead.pop(rnd.randrange(len(self.dead)))
            self.live.append(self.rows.website(old.home_url.split("/")[2]))
            if rnd.random() < 0.5:
                self.rows.change(old)
        else:
            self.rows.change(site)

    def home_domains(self) -> list[str]:
        return [site.home_url.split("/")[2] for site in [*self.live, *self.gone]]


def assert_follows(index: Index, stream: Stream) -> None:
    """The index serves what the mirror serves, and says why it refuses each website's domain as
    the database decision does."""
    assert index.served_names() == sorted(db.served_names())
    assert index.version == max(FiledWebsite.objects.values_list("version", flat=True))
    for domain in stream.home_domains():
        for host in (domain, f"www.{domain}"):
            assert index.reason(host.encode()) == db.decide(host).reason, host


def test_every_change_of_a_stream_is_in_the_index_after_the_next_read(rows):
    stream = Stream(rows, seed=10)
    index = Index()
    refresher = Refresher(index, OrmMirror(), interval=0.2)
    assert refresher.tick()
    rnd = random.Random(11)
    for _ in range(40):
        for _ in range(rnd.choice([1, 1, 2, 5, 12])):  # often one change a read, now and then a burst
            stream.one()
        assert refresher.tick()
        assert_follows(index, stream)


def test_changes_made_while_the_index_reads_are_in_it_after_the_next_read(rows):
    """Changes committed between the pages of one read (small pages, many changes) come in that
    read or the next: never lost because the read had moved past their version."""
    stream = Stream(rows, seed=20)

    class Busy(OrmMirror):
        pages = 0

        def changed(self, after, limit):
            found = super().changed(after, limit)
            if self.pages:  # as another worker commits while this page is read
                self.pages -= 1
                for _ in range(2):
                    stream.one()
            return found

    index = Index()
    index.load(OrmMirror())
    busy = Busy()
    for _ in range(15):
        for _ in range(7):
            stream.one()
        busy.pages = 3
        index.catch_up(busy, batch=3)
        index.catch_up(OrmMirror(), batch=3)  # the next read, with nothing written meanwhile
        assert_follows(index, stream)


def test_the_refresher_says_once_that_the_index_is_loaded(rows):
    """The decision server keeps what the first load made out of the cycle collector's way, once
    the load has worked, however late."""
    rows.website("once.cn")
    loads = []

    class Down(OrmMirror):
        down = True

        def max_version(self):
            if self.down:
                raise ConnectionError("database unreachable")
            return super().max_version()

        def close(self):
            pass  # the real one drops the thread's connection (not the test's transaction)

    mirror = Down()
    refresher = Refresher(Index(), mirror, interval=0.2, on_load=lambda: loads.append(True))
    assert not refresher.tick()
    mirror.down = False
    assert refresher.tick()
    rows.website("twice.cn")
    assert refresher.tick()
    assert loads == [True]
    assert refresher.index.reason(b"twice.cn") == "filed"
