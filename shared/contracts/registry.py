"""Contracts declared on their payload models, and the registry that collects them.

A payload model declares its contract once, where it is defined::

    @CATALOGUE.event("proposal.approved", version=1, producer="proposals")
    class ProposalApprovedV1(ProposalEvent):
        \"\"\"The city approved the job: work type, dimensions, location, budget, swadaya.\"\"\"

The summary is the docstring's first paragraph. A new version of an event is a new
model with the next version number and an upcaster from the one before it::

    @CATALOGUE.upcaster(ProposalApprovedV1, ProposalApprovedV2)
    def _(old: ProposalApprovedV1) -> ProposalApprovedV2: ...

so that a consumer registered for v2 also takes v1 messages, upcast before its handler
sees them. The registry checks every declaration when it is made (types, consecutive
versions, one model per contract), so a mistake fails at import, not at run time.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ValidationError, create_model

from shared.clock import utc_now
from shared.contracts.envelope import Envelope, InvalidEvent, ReceivedEvent
from shared.contracts.types import Contract
from shared.validation import describe_problems

# Our services, and the city's systems whose events we receive.
Producer = Literal[
    "proposals", "materials", "notifications", "transparency", "city-finance", "city-warehouse"
]

M = TypeVar("M", bound=Contract)
Old = TypeVar("Old", bound=Contract)
New = TypeVar("New", bound=Contract)
Upcaster = Callable[[Any], Contract]
# where a model's contract is kept, in the model's own class dict (not inherited)
_CONTRACT_ATTRIBUTE = "__berdaya_contract__"


@dataclass(frozen=True)
class EventContract(Generic[M]):
    event_type: str
    version: int
    producer: Producer
    data_model: type[M]
    summary: str
    registry: EventRegistry = field(compare=False, repr=False)
    message_model: type[BaseModel] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # The typed envelope of this event: what the AsyncAPI document shows and
        # what a consumer validates the whole body against.
        name = "".join(part.title() for part in self.event_type.replace("_", ".").split("."))
        model = create_model(
            f"{name}V{self.version}Message",
            __base__=Envelope,
            __doc__=self.summary,
            type=(Literal[self.event_type], ...),  # type: ignore[arg-type]
            version=(Literal[self.version], ...),  # type: ignore[arg-type]
            data=(self.data_model, ...),
        )
        object.__setattr__(self, "message_model", model)


class EventRegistry:
    """(type, version) → contract, with the upcasters between consecutive versions.

    The catalogue of this project is one registry (`shared.contracts.events.CATALOGUE`);
    a test may make its own, so that its contracts stay out of the public catalogue
    and the AsyncAPI documents.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._contracts: dict[tuple[str, int], EventContract[Any]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    # ---- declaring -----------------------------------------------------------------------

    def event(
        self, event_type: str, *, version: int, producer: Producer
    ) -> Callable[[type[M]], type[M]]:
        """Class decorator: `model` is the payload of `event_type` v`version`."""

        def declare(model: type[M]) -> type[M]:
            if not issubclass(model, Contract):
                raise TypeError(f"{model.__name__} is not a Contract model")
            if _CONTRACT_ATTRIBUTE in vars(model):
                raise ValueError(f"{model.__name__} already declares a contract")
            if (event_type, version) in self._contracts:
                raise ValueError(f"{event_type} v{version} is declared twice")
            if version < 1:
                raise ValueError(f"{event_type}: versions start at 1")
            if version > 1 and (event_type, version - 1) not in self._contracts:
                raise ValueError(f"{event_type} v{version} needs v{version - 1} declared first")
            summary = _summary_of(model, event_type)
            contract = EventContract(event_type, version, producer, model, summary, registry=self)
            self._contracts[(event_type, version)] = contract
            setattr(model, _CONTRACT_ATTRIBUTE, contract)
            return model

        return declare

    def upcaster(
        self, old: type[Old], new: type[New]
    ) -> Callable[[Callable[[Old], New]], Callable[[Old], New]]:
        """Function decorator: turns `old` (vN) into `new` (vN+1) of the same event."""
        before, after = contract_of(old), contract_of(new)
        if before.registry is not self or after.registry is not self:
            raise ValueError(f"{old.__name__} and {new.__name__} are not in {self.name}")
        if before.event_type != after.event_type or after.version != before.version + 1:
            raise ValueError(
                "an upcaster goes from one version to the next of the same event, not "
                f"{before.event_type} v{before.version} → {after.event_type} v{after.version}"
            )

        def register(function: Callable[[Old], New]) -> Callable[[Old], New]:
            self._upcasters[(before.event_type, before.version)] = function
            return function

        return register

    # ---- looking up ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self._contracts)

    def __len__(self) -> int:
        return len(self._contracts)

    def __contains__(self, key: object) -> bool:
        return key in self._contracts

    def __getitem__(self, key: tuple[str, int]) -> EventContract[Any]:
        return self._contracts[key]

    def items(self) -> Iterator[tuple[tuple[str, int], EventContract[Any]]]:
        return iter(self._contracts.items())

    def values(self) -> Iterator[EventContract[Any]]:
        return iter(self._contracts.values())

    def contract_for(self, event_type: str, version: int) -> EventContract[Any] | None:
        return self._contracts.get((event_type, version))

    def versions(self, event_type: str) -> list[EventContract[Any]]:
        """Every version of `event_type`, oldest first."""
        return sorted(
            (c for c in self._contracts.values() if c.event_type == event_type),
            key=lambda c: c.version,
        )

    def newest(self, event_type: str) -> EventContract[Any]:
        found = self.versions(event_type)
        if not found:
            raise LookupError(f"{event_type} is not in {self.name}")
        return found[-1]

    def produced_by(self, producer: Producer) -> list[EventContract[Any]]:
        """The newest version of each event `producer` emits."""
        types = dict.fromkeys(c.event_type for c in self._contracts.values())
        newest = [self.newest(t) for t in types]
        return [c for c in newest if c.producer == producer]

    def check_upcastable(self, target: EventContract[Any]) -> None:
        """Raise unless every older version of `target`'s event can be upcast to it."""
        for version in range(1, target.version):
            if (target.event_type, version) not in self._upcasters:
                raise LookupError(
                    f"{target.event_type} v{version} has no upcaster to v{version + 1}: "
                    f"a consumer of v{target.version} could not take it"
                )

    # ---- reading messages ----------------------------------------------------------------

    def parse(self, body: bytes, *, max_bytes: int) -> ReceivedEvent[Contract]:
        """Validate a message body against the envelope and its contract, or raise
        InvalidEvent (the reason goes to the dead-letter queue)."""
        if len(body) > max_bytes:
            raise InvalidEvent(f"message of {len(body)} bytes exceeds the limit of {max_bytes}")
        try:
            envelope = Envelope.model_validate_json(body)
        except ValidationError as error:
            raise InvalidEvent(f"invalid envelope: {describe_problems(error)}") from error
        contract = self.contract_for(envelope.type, envelope.version)
        if contract is None:
            raise InvalidEvent(f"unknown event {envelope.type} v{envelope.version}")
        try:
            # Validate the raw JSON again with the typed message model, so that strict
            # JSON-mode rules hold inside `data` too (no "12" for 12).
            message: Any = contract.message_model.model_validate_json(body)
        except ValidationError as error:
            raise InvalidEvent(
                f"invalid {envelope.type} v{envelope.version}: {describe_problems(error)}"
            ) from error
        data: Contract = message.data
        return ReceivedEvent(envelope=envelope, data=data)

    def upcast(self, event: ReceivedEvent[Contract], target: type[M]) -> ReceivedEvent[M]:
        """`event` with its data turned into `target`'s version of the same event.

        The envelope stays as it was published (its `version` is the one sent); only
        `data` is upcast. A version newer than `target` cannot be turned back: InvalidEvent.
        """
        wanted = contract_of(target)
        data = event.data
        version = event.envelope.version
        if event.envelope.type != wanted.event_type:
            raise InvalidEvent(f"{event.envelope.type} is not {wanted.event_type}")
        if version > wanted.version:
            raise InvalidEvent(
                f"{wanted.event_type} v{version} is newer than the v{wanted.version} "
                "this consumer takes: deploy the consumer that knows it, then replay"
            )
        while version < wanted.version:
            step = self._upcasters.get((wanted.event_type, version))
            if step is None:
                raise InvalidEvent(f"{wanted.event_type} v{version} has no upcaster")
            try:
                data = step(data)
            except (ValueError, TypeError) as error:  # pydantic's ValidationError included
                raise InvalidEvent(
                    f"cannot upcast {wanted.event_type} v{version} to v{version + 1}: {error}"
                ) from error
            version += 1
        if not isinstance(data, target):
            raise TypeError(f"upcasting gave {type(data).__name__}, not {target.__name__}")
        return ReceivedEvent(envelope=event.envelope, data=data)


def contract_of(model: type[M]) -> EventContract[M]:
    """The contract `model` declared (itself, not inherited from a parent model)."""
    found = vars(model).get(_CONTRACT_ATTRIBUTE)
    if found is None:
        raise LookupError(f"{model.__name__} is not in the event catalogue")
    return cast(EventContract[M], found)


def new_envelope(
    data: Contract,
    *,
    producer: str,
    correlation_id: str,
    causation_id: str | None = None,
) -> Envelope:
    """Wrap a payload; its type and version come from the contract its model declares."""
    contract = contract_of(type(data))
    return Envelope(
        event_id=uuid.uuid4(),
        type=contract.event_type,
        version=contract.version,
        occurred_at=utc_now(),
        producer=producer,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=data.model_dump(mode="json"),
    )


def _summary_of(model: type[Contract], event_type: str) -> str:
    """The docstring's first paragraph; a version that only adds to the one it subclasses
    and writes no docstring keeps that version's summary (the event means the same)."""
    doc = inspect.cleandoc(vars(model).get("__doc__") or "")
    summary = " ".join(doc.split("\n\n", 1)[0].split())
    if summary:
        return summary
    for base in model.__mro__[1:]:
        extended = vars(base).get(_CONTRACT_ATTRIBUTE)
        if isinstance(extended, EventContract) and extended.event_type == event_type:
            return extended.summary
    raise ValueError(f"{model.__name__}: a contract's docstring is its summary; write one")
