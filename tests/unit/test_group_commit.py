"""services/group_commit.GroupCommit: what arrives during a commit shares the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.services.group_commit import GroupCommit


class Journal:
    """A commit that takes as long as the test lets it, and remembers each batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.fail: set[str] = set()

    async def commit(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        await self.release.wait()
        if self.fail & set(items):
            raise OSError("disk full")
        return [item.upper() for item in items]


async def test_the_first_item_commits_at_once_and_those_arriving_meanwhile_share_the_next() -> None:
    """One commit for the first item; the three submitted during it go into one more commit."""
    journal = Journal()
    group = GroupCommit(journal.commit)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    later = [asyncio.create_task(group.submit(item)) for item in "bcd"]
    await asyncio.sleep(0)
    assert journal.batches == [["a"]]  # nobody waits for the later ones
    journal.release.set()
    assert await first == "A"
    assert [await task for task in later] == ["B", "C", "D"]
    assert journal.batches == [["a"], ["b", "c", "d"]]


async def test_a_failed_commit_reaches_every_item_of_its_batch_and_no_other() -> None:
    """The batch whose commit raises gets the error; the next batch commits as usual."""
    journal = Journal()
    journal.fail = {"b"}
    group = GroupCommit(journal.commit)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    failing = [asyncio.create_task(group.submit(item)) for item in "bc"]
    journal.release.set()
    assert await first == "A"
    for task in failing:
        with pytest.raises(OSError, match="disk full"):
            await task
    assert await group.submit("d") == "D"
    assert journal.batches == [["a"], ["b", "c"], ["d"]]


async def test_a_submitter_cancelled_leaves_the_others_committed() -> None:
    """Cancelling one waiting submitter does not stop the commit the others wait for."""
    journal = Journal()
    group = GroupCommit(journal.commit)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    first.cancel()
    second = asyncio.create_task(group.submit("b"))
    await asyncio.sleep(0)
    journal.release.set()
    assert await second == "B"
    assert journal.batches == [["a"], ["b"]]


async def test_a_group_holds_at_most_max_group_items() -> None:
    """Five items arriving during a commit, at most two per group: three more commits."""
    journal = Journal()
    group = GroupCommit(journal.commit, max_group=2)
    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    later = [asyncio.create_task(group.submit(item)) for item in "bcdef"]
    journal.release.set()
    assert await first == "A"
    assert [await task for task in later] == list("BCDEF")
    assert journal.batches == [["a"], ["b", "c"], ["d", "e"], ["f"]]


async def test_a_lingering_group_waits_for_the_items_that_come_meanwhile() -> None:
    """With `linger`, a group not full waits (the injected wait) for the items submitted
    meanwhile, and commits them with it; a full group commits at once."""
    journal = Journal()
    journal.release.set()
    waits: list[float] = []
    lingered = asyncio.Event()

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        await lingered.wait()

    group = GroupCommit(journal.commit, max_group=3, linger=0.05, wait=wait)
    tasks = [asyncio.create_task(group.submit(item)) for item in "abcd"]
    for _ in range(3):
        await asyncio.sleep(0)
    assert journal.batches == [["a", "b", "c"]]  # full: committed without waiting
    assert waits == [0.05]  # "d" waits for company
    tasks.append(asyncio.create_task(group.submit("e")))
    await asyncio.sleep(0)
    assert journal.batches == [["a", "b", "c"]]
    lingered.set()
    assert [await task for task in tasks] == list("ABCDE")
    assert journal.batches == [["a", "b", "c"], ["d", "e"]]
    assert waits == [0.05]


async def test_a_linger_asked_as_each_group_forms() -> None:
    """A callable `linger` is asked as each group forms: a group formed while it says 0 (the
    certificates' store when none is being made any more) is committed without waiting."""
    journal = Journal()
    journal.release.set()
    waits: list[float] = []
    others_in_hand = [1]

    async def wait(seconds: float) -> None:
        waits.append(seconds)

    group = GroupCommit(
        journal.commit, max_group=3, linger=lambda: 0.05 if others_in_hand[0] else 0.0, wait=wait
    )
    assert await group.submit("a") == "A"
    assert waits == [0.05]
    others_in_hand[0] = 0
    assert await group.submit("b") == "B"
    assert waits == [0.05]  # asked again: no wait
    assert journal.batches == [["a"], ["b"]]
