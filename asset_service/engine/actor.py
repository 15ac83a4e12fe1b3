"""Request and reply between the engine's actors, as in gen_server.

A request is a frozen dataclass deriving from ``Request[ReplyT]``: its type says what it is
answered with, and ``await ask(mailbox, request)`` returns that type. The actor receives the
request in an ``Envelope`` with a one-answer reply channel and answers every envelope with an
``outcome`` — a value, or the exception that handling it raised — so one bad request never kills
the actor.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import outcome
import trio

from .errors import EngineStopped

ReplyT = TypeVar("ReplyT")


class Request(Generic[ReplyT]):
    """Base of every message that is answered; ``ReplyT`` is what it is answered with."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Envelope(Generic[ReplyT]):
    """A request as the actor receives it, with the channel its answer goes back on."""

    request: Request[ReplyT]
    reply: trio.MemorySendChannel[outcome.Outcome[ReplyT]]

    def answer(self, result: outcome.Outcome[ReplyT]) -> None:
        """Deliver the answer without ever blocking the actor: the buffer holds the one answer,
        and a caller that has given up (closed its end) is simply not answered."""
        try:
            self.reply.send_nowait(result)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.reply.close()

    def answer_now(self, work: Callable[[], ReplyT]) -> None:
        """Run ``work()`` and answer its value or its error."""
        self.answer(outcome.capture(work))

    async def answer_with(self, work: Callable[[], Awaitable[ReplyT]]) -> None:
        """Run ``await work()`` and answer its value or its error."""
        result = await outcome.acapture(work)
        if isinstance(result, outcome.Error) and not isinstance(result.error, Exception):
            # Cancelled or KeyboardInterrupt: tell the caller, then let it propagate.
            self.answer(outcome.Error(EngineStopped("the engine is shutting down")))
            result.unwrap()
        self.answer(result)


#: an actor's mailbox, as its senders hold it
Mailbox = trio.MemorySendChannel[Envelope[Any]]
#: an actor's mailbox, as the actor holds it
Inbox = trio.MemoryReceiveChannel[Envelope[Any]]


async def ask(mailbox: trio.MemorySendChannel[Any], request: Request[ReplyT]) -> ReplyT:
    """Send ``request`` to the actor behind ``mailbox`` and wait for its answer."""
    reply_send: trio.MemorySendChannel[outcome.Outcome[ReplyT]]
    reply_receive: trio.MemoryReceiveChannel[outcome.Outcome[ReplyT]]
    reply_send, reply_receive = trio.open_memory_channel(1)
    async with reply_receive:
        try:
            await mailbox.send(Envelope(request, reply_send))
            answer = await reply_receive.receive()
        except (trio.ClosedResourceError, trio.BrokenResourceError, trio.EndOfChannel):
            reply_send.close()
            raise EngineStopped("the engine is shutting down") from None
    return answer.unwrap()
