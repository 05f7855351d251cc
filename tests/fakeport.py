"""A small charger port for the controller's rules: scripted answers, every request recorded, no sockets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bmw_wallbox.errors import ChargerCallError
from bmw_wallbox.ports import Answer, IdToken, LimitProfile, StartAnswer, TransactionStatus
from bmw_wallbox.state import ChargerState

#: What a scripted request answers: an Answer, or an exception to raise.
Script = Callable[[LimitProfile], Answer | Exception]


def accepted(_: object = None) -> Answer:
    """The charger says yes."""
    return Answer(status="Accepted")


def rejected(_: object = None) -> Answer:
    """The charger says no."""
    return Answer(status="Rejected", reason_code="InvalidProfile")


def callerror(code: str) -> Callable[[object], Exception]:
    """The charger answers CALLERROR ``code``."""
    return lambda _: ChargerCallError(code, "scripted")


@dataclass
class FakePort:
    """A charger port whose answers a test scripts; ``calls`` records (method, argument) in order."""

    state: ChargerState
    set_limit_answer: Callable[[LimitProfile], Answer | Exception] = accepted
    start_answer: StartAnswer = field(default_factory=lambda: StartAnswer(status="Accepted"))
    ongoing: bool | None = True
    composite: float | Exception | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def _answer(self, answer: Answer | Exception) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def set_limit(self, profile: LimitProfile) -> Answer:
        """Scripted by ``set_limit_answer``."""
        self.calls.append(("set_limit", profile))
        return self._answer(self.set_limit_answer(profile))  # type: ignore[no-any-return]

    async def composite_limit(self, *, evse_id: int, duration_s: int) -> float | None:
        """``composite`` (raised when it is an exception)."""
        self.calls.append(("composite_limit", evse_id))
        if isinstance(self.composite, Exception):
            raise self.composite
        return self.composite

    async def transaction_status(self, transaction_id: str) -> TransactionStatus:
        """``ongoing``, nothing queued."""
        self.calls.append(("transaction_status", transaction_id))
        return TransactionStatus(ongoing=self.ongoing, messages_in_queue=False)

    async def request_start(self, *, evse_id: int, remote_start_id: int, id_token: IdToken) -> StartAnswer:
        """``start_answer``."""
        self.calls.append(("request_start", id_token))
        return self.start_answer

    async def request_stop(self, transaction_id: str) -> Answer:
        """Accepted."""
        self.calls.append(("request_stop", transaction_id))
        return Answer(status="Accepted")

    async def reset(self) -> Answer:
        """Accepted."""
        self.calls.append(("reset", None))
        return Answer(status="Accepted")

    def sent(self, method: str) -> list[Any]:
        """The arguments of every call of ``method``."""
        return [argument for name, argument in self.calls if name == method]
