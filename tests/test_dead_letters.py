"""The dead-letter sink: every undelivered message is counted, kept (the latest) and logged."""

from __future__ import annotations

from _support import Echo, Ping

from supervise import DeadLetter
from supervise._dead_letters import DeadLetters
from supervise.testing import EventLog


def test_each_letter_is_counted_logged_and_the_latest_are_kept(events: EventLog) -> None:
    """count grows for ever; recent keeps the last `keep`, oldest first; one event each."""
    letters = DeadLetters(keep=2)
    letters.add("root/a", Ping(), "not_running")
    letters.add("root/b", Echo(text="x"), "actor_stopped")
    letters.add("root/c", Ping(), "mailbox_full")
    assert letters.count == 3
    assert list(letters.recent) == [
        DeadLetter("root/b", Echo(text="x"), "actor_stopped"),
        DeadLetter("root/c", Ping(), "mailbox_full"),
    ]
    logged = [
        (e["actor"], e["message_type"], e["cause"]) for e in events.of("message_dead_lettered")
    ]
    assert logged == [
        ("root/a", "Ping", "not_running"),
        ("root/b", "Echo", "actor_stopped"),
        ("root/c", "Ping", "mailbox_full"),
    ]
