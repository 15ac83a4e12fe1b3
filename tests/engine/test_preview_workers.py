"""Where renderings run: module-level renderers in niced worker processes, others in niced
threads; a renderer that kills its process fails alone and the next rendering still runs."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import trio

from asset_service.engine._preview_workers import (
    BACKGROUND_NICE,
    BackgroundWorkers,
    RendererDied,
    runs_in_a_process,
)


def where_and_how_nice() -> tuple[int, int]:
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def wait_then_answer(seconds: float) -> str:
    threading.Event().wait(seconds)
    return "done"


class Stateful:
    def __init__(self) -> None:
        self.calls = 0

    def render(self) -> int:
        self.calls += 1
        return threading.get_native_id()


def test_only_module_level_functions_go_to_a_process():
    def local() -> None:
        pass

    assert runs_in_a_process(where_and_how_nice)
    assert not runs_in_a_process(local)
    assert not runs_in_a_process(lambda: None)
    assert not runs_in_a_process(Stateful().render)


@pytest.fixture
async def workers():
    pool = BackgroundWorkers(2)
    try:
        yield pool
    finally:
        pool.close()


async def test_a_module_level_renderer_runs_in_a_niced_process(workers):
    pid, nice = await workers.run(where_and_how_nice)
    assert pid != os.getpid()
    assert nice == BACKGROUND_NICE


async def test_a_bound_method_runs_in_a_thread_of_this_process(workers):
    renderer = Stateful()
    thread = await workers.run(renderer.render)
    assert renderer.calls == 1
    assert thread != threading.get_native_id()
    assert os.getpriority(os.PRIO_PROCESS, thread) == BACKGROUND_NICE


async def test_a_dying_renderer_fails_alone_and_the_pool_recovers(workers):
    results: dict[str, object] = {}

    async def innocent() -> None:
        results["innocent"] = await workers.run(wait_then_answer, 0.5)

    async def culprit() -> None:
        with pytest.raises(RendererDied):
            await workers.run(die)
        results["culprit"] = "died"

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(innocent)
            nursery.start_soon(culprit)
        assert results == {"innocent": "done", "culprit": "died"}
        pid, _ = await workers.run(where_and_how_nice)
    assert pid != os.getpid()
