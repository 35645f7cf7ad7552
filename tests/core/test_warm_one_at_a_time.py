"""One background warm-up at a time in a process (core/warm/ `start_background`): a runner started while an
earlier one still runs waits for it. (A warm-up thread per AppTest, each compiling numba beside the others, ended
a test run on a busy machine with a segmentation fault inside LLVM.)"""

from __future__ import annotations

import threading

from core import warm


def test_a_second_runner_starts_its_steps_only_after_the_first_has_ended():
    first_may_end = threading.Event()
    first_running = threading.Event()
    seen: list[bool] = []

    def slow(progress) -> None:
        first_running.set()
        assert first_may_end.wait(60), "the test never let the first step end"

    def second_step(progress) -> None:
        seen.append(first_may_end.is_set())  # True only if this waited for the first runner

    first = warm.WarmUp([warm.Step("slow", "a slow step", slow)])
    second = warm.WarmUp([warm.Step("quick", "a quick step", second_step)])
    thread_1 = first.start_background(low_priority=False)
    assert first_running.wait(60)
    thread_2 = second.start_background(low_priority=False)
    first_may_end.set()
    thread_1.join(60)
    thread_2.join(60)
    assert not thread_1.is_alive() and not thread_2.is_alive()
    assert seen == [True]
    assert second.states["quick"].status == "done"


def test_a_stopped_runner_waiting_for_an_earlier_one_starts_nothing():
    release = threading.Event()
    started = threading.Event()
    ran: list[str] = []

    def blocking(progress) -> None:
        started.set()
        assert release.wait(60)

    first = warm.WarmUp([warm.Step("blocking", "blocks", blocking)])
    second = warm.WarmUp([warm.Step("never", "must not run", lambda progress: ran.append("never"))])
    thread_1 = first.start_background(low_priority=False)
    assert started.wait(60)
    thread_2 = second.start_background(low_priority=False)
    second.stop()  # its test ended before the earlier warm-up did
    thread_2.join(60)
    assert not thread_2.is_alive()
    release.set()
    thread_1.join(60)
    assert ran == []
