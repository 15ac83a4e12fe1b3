"""The ask pattern shared by the actors (as in gen_server): a request is a dataclass that
carries its own reply channel; the actor answers every request with an ``outcome`` — a value or
the exception that handling it raised — so one bad request never kills the actor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import outcome
import trio

from .errors import EngineStopped

T = TypeVar("T")
Reply = trio.MemorySendChannel[outcome.Outcome[Any]]


async def ask(mailbox: trio.MemorySendChannel[Any], build: Callable[[Reply], Any]) -> Any:
    """Send ``build(reply_channel)`` to an actor and wait for its answer."""
    reply_send, reply_receive = trio.open_memory_channel[outcome.Outcome[Any]](1)
    async with reply_receive:
        try:
            await mailbox.send(build(reply_send))
            answer = await reply_receive.receive()
        except (trio.ClosedResourceError, trio.BrokenResourceError, trio.EndOfChannel):
            raise EngineStopped("the engine is shutting down") from None
    return answer.unwrap()


def answer(reply: Reply, result: outcome.Outcome[Any]) -> None:
    """Deliver a reply without ever blocking the actor: the buffer holds the one answer, and
    a caller that has given up (closed its end) is simply not answered."""
    try:
        reply.send_nowait(result)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        reply.close()


async def answer_with(reply: Reply, work: Callable[[], Any]) -> None:
    """Run ``await work()`` and answer its value or its error to ``reply``."""
    result = await outcome.acapture(work)
    if isinstance(result, outcome.Error) and not isinstance(result.error, Exception):
        # Cancelled or KeyboardInterrupt: tell the caller, then let it propagate.
        answer(reply, outcome.Error(EngineStopped("the engine is shutting down")))
        result.unwrap()
    answer(reply, result)
