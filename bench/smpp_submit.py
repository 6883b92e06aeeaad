"""Submits per second of the SMPP channel (our ESME) against the simulator SMSC, with receipts,
and of the CMPP channel against the simulated CMPP gateway in the same run (`--protocols`).

Run from the repository root:

    .venv/bin/python bench/smpp_submit.py [--messages 50000] [--windows 1,10,100] [--no-uvloop]
    .venv/bin/python bench/smpp_submit.py --protocols smpp,cmpp --windows 100

Starts `yizhan simulator` in its own process (pinned to the last CPU when there are two or
more, and this process to the first, unless `--no-pin`), binds an `SmppChannel` per window
size and submits `--messages` single-part messages through `SmppChannel.submit` from
`window` lanes, the way the dispatch worker drives a channel. Every message gets a DLR back
(the simulator sends it at once, delay 0), which the channel hands to a sink that only
counts. For each window it prints submits/s (until the last submit_sm_resp), messages/s with
receipts (until the last receipt was taken), and the CPU time per message of this process
(the ESME) and of the simulator (from /proc). Window 1 sends a tenth of the messages (it is
latency-bound).

The simulator's ceiling comes from a raw client in the same run: every submit_sm pre-encoded
and written at once, receipts acknowledged from their header alone, so the figure is what
the simulator process can take, not what a client can make (SMPP only). With `--protocols
smpp,cmpp` each protocol runs against its own simulator process (`yizhan simulator
--protocol cmpp` for CMPP 3.0), one after the other, and prints its rows. The last line,
`RESULT {...}`, gives the largest window's figures as JSON for `bench/ab.py` (`--metric
esme_cpu_us`, or `submits_per_s`: the first protocol's; `cmpp_submits_per_s`, ...: each
protocol's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from yizhan.dispatch.channels.cmpp import CmppChannel, CmppConfig
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig
from yizhan.dispatch.channels.smpp_pdu import (
    Bind,
    Command,
    Pdu,
    ShortMessage,
    encode,
)
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Accepted, SubmitRequest, SystemClock

TEXT = "【驿站】您的验证码是 123456，5 分钟内有效。"


class CountingSink:
    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.done = asyncio.Event()

    async def __call__(self, event: Receipt | Uplink) -> None:
        await self.many([event])

    async def many(self, events: Sequence[Receipt | Uplink]) -> None:
        self.count += len(events)
        if self.count >= self.target:
            self.done.set()


async def start_simulator(pin_cpus: bool, protocol: str = "smpp"
                          ) -> tuple[asyncio.subprocess.Process, int]:
    entry = str(Path(sys.executable).parent / "yizhan")
    cpus = sorted(os.sched_getaffinity(0)) if pin_cpus else [0]
    pin = ["taskset", "-c", str(cpus[-1])] if len(cpus) > 1 else []
    which = ["--protocol", protocol] if protocol != "smpp" else []
    process = await asyncio.create_subprocess_exec(
        *pin, entry, "simulator", "--port", "0", "--delay", "0", *which,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    found = re.search(r":(\d+) ", line)
    if found is None:
        raise SystemExit(f"simulator did not start: {line}")
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[0]})
    return process, int(found.group(1))


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_channel(protocol: str, port: int, window: int) -> SmppChannel | CmppChannel:
    if protocol == "cmpp":
        return CmppChannel(CmppConfig(f"bench-w{window}", "127.0.0.1", port, "901234",
                                      service_code="1069001", window=window), SystemClock())
    return SmppChannel(SmppConfig(f"bench-w{window}", "127.0.0.1", port, "bench",
                                  window=window), SystemClock())


async def run_window(port: int, window: int, messages: int, simulator: int,
                     protocol: str = "smpp") -> tuple[float, float, float, float]:
    sink = CountingSink()
    sink.target = messages
    channel = make_channel(protocol, port, window)
    await channel.start(sink)
    await asyncio.wait_for(channel.bound.wait(), 10)
    requests = iter(range(messages))
    accepted = 0

    async def lane() -> None:
        nonlocal accepted
        for n in requests:
            result = await channel.submit(SubmitRequest(n, "+8613800138000", TEXT, 1))
            accepted += isinstance(result, Accepted)

    started, cpu, smsc = time.perf_counter(), time.process_time(), process_cpu(simulator)
    await asyncio.gather(*(lane() for _ in range(window)))
    submitted = time.perf_counter() - started
    await asyncio.wait_for(sink.done.wait(), 120)
    received = time.perf_counter() - started
    cpu = time.process_time() - cpu
    smsc = process_cpu(simulator) - smsc
    await channel.stop()
    if accepted != messages:
        raise SystemExit(f"window {window}: only {accepted} of {messages} accepted")
    return (messages / submitted, messages / received, cpu / messages * 1e6,
            smsc / messages * 1e6)


class RawClient(asyncio.Protocol):
    """Writes pre-encoded submit_sm PDUs; counts responses and acknowledges receipts."""

    def __init__(self, messages: int) -> None:
        self.messages = messages
        self.responses = 0
        self.receipts = 0
        self.bound = asyncio.Event()
        self.done = asyncio.Event()
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(encode(Pdu(Command.BIND_TRANSCEIVER, 1, 0,  # type: ignore[attr-defined]
                                   Bind("raw"))))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        pos, out = 0, []
        while len(buffer) - pos >= 16:
            length, command, _, sequence = struct.unpack_from(">IIII", buffer, pos)
            if len(buffer) - pos < length:
                break
            pos += length
            if command == Command.SUBMIT_SM_RESP:
                self.responses += 1
            elif command == Command.DELIVER_SM:
                self.receipts += 1
                out.append(struct.pack(">IIIIB", 17, Command.DELIVER_SM_RESP, 0, sequence, 0))
            elif command == Command.BIND_TRANSCEIVER_RESP:
                self.bound.set()
        del buffer[:pos]
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if self.responses >= self.messages and self.receipts >= self.messages:
            self.done.set()


async def simulator_ceiling(port: int, messages: int, simulator: int) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    client = RawClient(messages)
    transport, _ = await loop.create_connection(lambda: client, "127.0.0.1", port)
    await asyncio.wait_for(client.bound.wait(), 10)
    body = ShortMessage("1069001", "8613800138000", TEXT.encode("utf-16-be"),
                        dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1, data_coding=8)
    pdus = [encode(Pdu(Command.SUBMIT_SM, n + 2, 0, body)) for n in range(messages)]
    started, smsc = time.perf_counter(), process_cpu(simulator)
    for i in range(0, messages, 1000):
        transport.write(b"".join(pdus[i:i + 1000]))
        await asyncio.sleep(0)
    await asyncio.wait_for(client.done.wait(), 120)
    elapsed = time.perf_counter() - started
    smsc = process_cpu(simulator) - smsc
    transport.close()
    return messages / elapsed, smsc / messages * 1e6


async def main(args: argparse.Namespace) -> None:
    pinned = args.pin and len(os.sched_getaffinity(0)) > 1
    result: dict[str, float] = {}
    for protocol in args.protocols:
        process, port = await start_simulator(args.pin, protocol)
        try:
            print(f"{protocol.upper()} submit benchmark: {args.messages} messages per window, "
                  f"receipts on, {'uvloop' if args.uvloop else 'asyncio'}, "
                  f"{'pinned' if pinned else 'not pinned'}, load average "
                  f"{os.getloadavg()[0]:.2f}, simulator pid {process.pid} on port {port}")
            print(f"{'window':>6} | {'submits/s':>10} | {'with receipts/s':>15} | "
                  f"{'ESME CPU us/msg':>15} | {'SMSC CPU us/msg':>15}")
            for window in args.windows:
                count = args.messages // 10 if window == 1 else args.messages
                submits, with_receipts, cpu, smsc = await run_window(port, window, count,
                                                                     process.pid, protocol)
                print(f"{window:>6} | {submits:>10,.0f} | {with_receipts:>15,.0f} | "
                      f"{cpu:>15.1f} | {smsc:>15.1f}")
                figures = {"window": window, "submits_per_s": submits,
                           "with_receipts_per_s": with_receipts, "esme_cpu_us": cpu}
                if protocol == args.protocols[0]:
                    result.update(figures)
                result.update({f"{protocol}_{key}": value for key, value in figures.items()})
            if args.ceiling and protocol == "smpp":
                ceiling, smsc = await simulator_ceiling(port, args.messages, process.pid)
                print(f"simulator ceiling (raw pipelined client, submit + receipt): "
                      f"{ceiling:,.0f}/s, SMSC CPU {smsc:.1f} us/msg")
        finally:
            process.terminate()
            await process.wait()
    print("RESULT " + json.dumps(result))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--windows", default="1,10,100",
                        type=lambda s: [int(w) for w in s.split(",")])
    parser.add_argument("--protocols", default="smpp", type=lambda s: s.split(","),
                        help="smpp, cmpp or both (smpp,cmpp): each against its simulator")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="skip the raw client's run (A/B pairs need only the channel)")
    parser.add_argument("--no-uvloop", dest="uvloop", action="store_false")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="let the scheduler place both processes (a shared machine)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.uvloop:
        import uvloop
        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
