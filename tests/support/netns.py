"""Network namespaces for service processes, made by the tests (needs root).

    with isolated_network() as net:              # a namespace, a veth pair to the host
        net.host_address, net.address            # 10.250.14.(4k+1) / (4k+2), a /30
        net.run(["python", "-m", ...])           # argv prefixed to run inside it
        net.partition(5672, 27017)               # DROP both ways to those host ports
        net.heal()

Addresses come from 10.250.14.0/24, a private range only these tests use, one /30
per namespace; rules are iptables rules inside the namespace, so only its traffic
is ever touched (never the host's). DROP, not REJECT: a partition looks like one — no
refusal, only silence — and every timeout runs its course.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

SUBNET = "10.250.14"
SLOTS = 64  # /30s in the /24


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)
    return done.stdout


def _used_slots() -> set[int]:
    used = set()
    for line in ip("-o", "-4", "addr").splitlines():
        for word in line.split():
            if word.startswith(f"{SUBNET}."):
                used.add(int(word.split("/")[0].rsplit(".", 1)[1]) // 4)
    return used


@dataclass
class NetworkNamespace:
    name: str
    host_address: str  # the host's end of the link, where the forwarders listen
    address: str  # the namespace's end, where its service listens
    _rules: list[list[str]] = field(default_factory=list)

    def run(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def iptables(self, *args: str) -> None:
        subprocess.run(
            self.run(["iptables", "-w", *args]), check=True, capture_output=True, timeout=30
        )

    def partition(self, *host_ports: int) -> None:
        """Drop every packet between this namespace and those ports of the host's end:
        new connections hang in SYN, open ones go silent."""
        for port in host_ports:
            for rule in (
                ["OUTPUT", "-d", self.host_address, "-p", "tcp", "--dport", str(port)],
                ["INPUT", "-s", self.host_address, "-p", "tcp", "--sport", str(port)],
            ):
                self.iptables("-I", *rule, "-j", "DROP")
                self._rules.append(rule)

    def heal(self) -> None:
        while self._rules:
            self.iptables("-D", *self._rules.pop(), "-j", "DROP")

    @property
    def partitioned(self) -> bool:
        return bool(self._rules)


@contextmanager
def isolated_network() -> Iterator[NetworkNamespace]:
    """A namespace joined to the host by a veth pair; removed (with its link) after."""
    free = sorted(set(range(1, SLOTS)) - _used_slots())
    if not free:
        raise RuntimeError(f"every /30 of {SUBNET}.0/24 is in use")
    slot = free[0]
    tag = uuid.uuid4().hex[:8]
    net = NetworkNamespace(
        name=f"berdaya-{tag}",
        host_address=f"{SUBNET}.{slot * 4 + 1}",
        address=f"{SUBNET}.{slot * 4 + 2}",
    )
    host_end, inner_end = f"vh{tag}", f"vn{tag}"
    ip("netns", "add", net.name)
    try:
        ip("link", "add", host_end, "type", "veth", "peer", "name", inner_end)
        ip("link", "set", inner_end, "netns", net.name)
        ip("addr", "add", f"{net.host_address}/30", "dev", host_end)
        ip("link", "set", host_end, "up")
        inside = ("netns", "exec", net.name, "ip")
        ip(*inside, "addr", "add", f"{net.address}/30", "dev", inner_end)
        ip(*inside, "link", "set", inner_end, "up")
        ip(*inside, "link", "set", "lo", "up")
        yield net
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", net.name], capture_output=True, timeout=30)
