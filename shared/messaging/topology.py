"""Names, arguments and policies of every exchange and queue, in one place.

One durable topic exchange carries all events (routing key = event type). Each
service has one durable quorum queue per event it consumes, dead-lettering into a
direct exchange that routes to the service's own dead-letter queue, and one retry
queue per retry delay: a failed event waits there (message TTL) and is then
dead-lettered by RabbitMQ straight back to the work queue it came from.

Who declares them: the broker set-up step (`python -m services.broker_setup`, its own
broker user) in production, so that the services' users need no configure permission and
cannot reconfigure anything; in development the service itself at start
(`BERDAYA_BROKER_TOPOLOGY`). The same `Topology` serves both: with `declares=False`
every exchange and queue is only looked up (a passive declare) and nothing is bound.

Settings that may change — delivery limit, dead-lettering, overflow, the audit
buffer's length — are RabbitMQ *policies* (`policies`), not queue arguments:
arguments are fixed when a queue is declared, and declaring it again with other
values fails (PRECONDITION_FAILED). The services apply the policies at start through
the management API (`shared.messaging.policies`); the broker definitions
(`deploy/broker/definitions.py`) carry the same ones. Only what can never change
stays an argument: the queue type, and a retry queue's delay (its name says it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from faststream.rabbit import ExchangeType, QueueType, RabbitExchange, RabbitQueue

# The audit buffer keeps at most this many messages, dropping the oldest first.
AUDIT_QUEUE_MAX_LENGTH = 100_000
# One policy applies to a queue: the highest priority wins. Above an operator's
# catch-all (priority 0); an operator who needs more sets operator policies.
POLICY_PRIORITY = 10
DEFAULT_RETRY_DELAYS = (10.0, 60.0, 300.0)
# The event history (a stream of every event) keeps what is younger than this AND
# fits in this many bytes, the oldest dropped first. Two years: a city system that
# joins at any time in the year after a budget year still reads that whole budget year
# from its first event. 5 GB: far above that at this programme's volume (about a million
# events of ~1 KB a year even counting every notification), so age decides and size
# only guards the broker's disk against a runaway producer. Both are a policy
# (`history_policy`), so changing them needs no new stream (arguments never change).
DEFAULT_HISTORY_MAX_AGE = "2Y"
DEFAULT_HISTORY_MAX_BYTES = 5_000_000_000


@dataclass(frozen=True)
class Policy:
    """A RabbitMQ policy: `definition` applies to the queues whose name matches `pattern`."""

    name: str
    pattern: str
    definition: dict[str, Any]
    priority: int = POLICY_PRIORITY
    apply_to: str = "queues"

    def body(self) -> dict[str, Any]:
        """As the management API's `PUT /api/policies/{vhost}/{name}` takes it."""
        return {
            "pattern": self.pattern,
            "definition": self.definition,
            "priority": self.priority,
            "apply-to": self.apply_to,
        }


@dataclass(frozen=True)
class RetryRoute:
    """Where a failed event waits `delay_seconds` before it returns to its work queue.

    Published to `exchange` (fanout) with the work queue's name as routing key; the
    retry queue's message TTL then dead-letters it through the default exchange with
    that same routing key, which is the work queue."""

    exchange: RabbitExchange
    queue: RabbitQueue
    delay_seconds: float


@dataclass(frozen=True)
class Topology:
    namespace: str
    # RabbitMQ's own backstop: a message delivered this often without being settled
    # (for example because it crashes the consumer before it can be retried or
    # dead-lettered) goes to the dead-letter exchange.
    delivery_limit: int = 20
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    # False: the exchanges and queues exist already (the set-up step made them); only
    # look them up, never declare or bind (a service under least privilege).
    declares: bool = True
    history_max_age: str = DEFAULT_HISTORY_MAX_AGE
    history_max_bytes: int = DEFAULT_HISTORY_MAX_BYTES

    @property
    def events_exchange(self) -> RabbitExchange:
        return RabbitExchange(
            f"{self.namespace}.events",
            type=ExchangeType.TOPIC,
            durable=True,
            declare=self.declares,
        )

    @property
    def dead_letter_exchange(self) -> RabbitExchange:
        return RabbitExchange(
            f"{self.namespace}.dead-letter",
            type=ExchangeType.DIRECT,
            durable=True,
            declare=self.declares,
        )

    def replay_exchange(self, service: str) -> RabbitExchange:
        """Where a replayed dead letter goes: bound to each of `service`'s work queues
        by the queue's name, so a replay reaches that one queue and no other (the
        default exchange would let a service's user write to any queue)."""
        return RabbitExchange(
            f"{self.namespace}.{service}.replay",
            type=ExchangeType.DIRECT,
            durable=True,
            declare=self.declares,
        )

    def queue_name(self, service: str, event_type: str) -> str:
        return f"{self.namespace}.{service}.{event_type}"

    def event_queue(self, service: str, event_type: str) -> RabbitQueue:
        # no x-arguments: dead-lettering and the delivery limit come from the policy
        return RabbitQueue(
            self.queue_name(service, event_type),
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=event_type,
            declare=self.declares,
        )

    def dead_letter_queue(self, service: str) -> RabbitQueue:
        return RabbitQueue(
            f"{self.namespace}.{service}.dead-letter",
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=service,
            declare=self.declares,
        )

    def retry_route(self, service: str, failed_attempts: int) -> RetryRoute:
        """The wait after the `failed_attempts`-th failure: the configured delays in
        turn, the last one repeated."""
        delay = self.retry_delays[min(failed_attempts, len(self.retry_delays)) - 1]
        name = f"{self.namespace}.{service}.retry.{delay_label(delay)}"
        return RetryRoute(
            exchange=RabbitExchange(
                name, type=ExchangeType.FANOUT, durable=True, declare=self.declares
            ),
            queue=RabbitQueue(
                name,
                queue_type=QueueType.QUORUM,
                durable=True,
                declare=self.declares,
                # fixed for this name: another delay is another queue
                arguments={
                    "x-message-ttl": round(delay * 1000),
                    "x-dead-letter-exchange": "",  # the default exchange: by queue name
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            ),
            delay_seconds=delay,
        )

    def retry_routes(self, service: str) -> list[RetryRoute]:
        return [self.retry_route(service, n) for n in range(1, len(self.retry_delays) + 1)]

    @property
    def audit_queue(self) -> RabbitQueue:
        """`notification.sent` / `notification.failed` for the city's audit system.

        Declared by the notifications service so that its mandatory publishes always
        have a taker; bounded and dropping the oldest (its policy), so that an absent
        reader cannot fill the broker (an audit buffer, not a store of record).
        """
        return RabbitQueue(
            f"{self.namespace}.audit.notifications",
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key="notification.*",
            declare=self.declares,
        )

    @property
    def history_stream(self) -> RabbitQueue:
        """Every event published on the events exchange (bound with `#`), kept for
        systems that join later: a RabbitMQ stream, read without being consumed away,
        from its first retained event or from a timestamp (`x-stream-offset`).

        Declared and bound by the broker set-up step only; nobody writes to it but the
        exchange. Retention is its policy (`history_policy`)."""
        return RabbitQueue(
            f"{self.namespace}.events.history",
            queue_type=QueueType.STREAM,
            durable=True,
            routing_key="#",
            declare=self.declares,
        )

    def bound_queues(self, service: str) -> list[RabbitQueue]:
        """Queues `service` declares beside its work queues, bound to the events
        exchange by their routing key and read by others (the audit buffer)."""
        return [self.audit_queue] if service == "notifications" else []

    # ---- policies ---------------------------------------------------------------------------

    def work_queue_policy(self, service: str) -> Policy:
        """Every work queue of `service` (`<namespace>.<service>.<event type>`; not its
        dead-letter or retry queues, whose names are no event type)."""
        prefix = re.escape(f"{self.namespace}.{service}.")
        return Policy(
            name=f"{self.namespace}.{service}.work-queues",
            pattern=rf"^{prefix}[a-z]+(\.[a-z_]+)+$",
            definition={
                "dead-letter-exchange": self.dead_letter_exchange.name,
                "dead-letter-routing-key": service,
                # at-least-once dead-lettering needs reject-publish overflow
                "dead-letter-strategy": "at-least-once",
                "overflow": "reject-publish",
                "delivery-limit": self.delivery_limit,
            },
        )

    @property
    def audit_queue_policy(self) -> Policy:
        return Policy(
            name=f"{self.namespace}.audit-buffer",
            pattern=f"^{re.escape(self.audit_queue.name)}$",
            definition={"max-length": AUDIT_QUEUE_MAX_LENGTH, "overflow": "drop-head"},
        )

    @property
    def history_policy(self) -> Policy:
        """The history stream's retention, by age and by size (whichever comes first)."""
        return Policy(
            name=f"{self.namespace}.events-history",
            pattern=f"^{re.escape(self.history_stream.name)}$",
            definition={
                "max-age": self.history_max_age,
                "max-length-bytes": self.history_max_bytes,
            },
        )

    def policies(self, service: str) -> list[Policy]:
        """The policies `service` needs (the notifications service declares the audit
        buffer, so its policy is that service's too)."""
        found = [self.work_queue_policy(service)]
        if service == "notifications":
            found.append(self.audit_queue_policy)
        return found

    def owns_policy(self, name: str) -> bool:
        """True for the policies of this namespace (what a clean-up removes)."""
        return name.startswith(f"{self.namespace}.")


def broker_delivery_limit(max_delivery_attempts: int) -> int:
    """RabbitMQ's delivery limit for a service whose handlers get `max_delivery_attempts`:
    well above it, since a retry or an outage never counts against it — only a consumer
    gone before it could settle the event (a crash, a lost connection) does."""
    return max_delivery_attempts * 4


def delay_label(seconds: float) -> str:
    """`200ms`, `10s`, `1m`: how a delay appears in a retry queue's name."""
    ms = round(seconds * 1000)
    if ms % 60_000 == 0:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"
