#!/usr/bin/env python3
"""Drives one live migration between two QMP servers with QEMU's own python client, qemu.qmp.

The servers are a source (running) and a destination started with "-incoming defer" (QEMU) or "incoming
defer --qmp" (livemig). The same steps run against either, so two QEMUs and two livemig processes can be
compared reply for reply:

  asyncio QMPClient, source and destination: greeting and qmp_capabilities (done by connect()), query-status,
  query-migrate, two failing commands (each must surface as qemu.qmp's ExecuteError with QEMU's class and
  text), migrate-set-capabilities events, migrate-set-parameters, migrate-incoming tcp:127.0.0.1:0 on the
  destination, migrate on the source; MIGRATION and MIGRATION_PASS events through EventListeners until both
  ends say completed; query-migrate and query-status on both, cont on the destination, quit on the source
  (the client must see the server hang up by itself, and nothing worse than EOF).
  legacy QEMUMonitorProtocol (the synchronous wrapper iotests use), destination: a second connection,
  query-status, query-migrate, a failing command, quit.

Prints one JSON object (the summary) on stdout and exits 0 when every check held; a failed check prints the
summary so far with "error" and exits 1; 3 when qemu.qmp cannot be imported.

usage: qmp_migrate.py --source unix:PATH --dest unix:PATH [--timeout SECONDS]
"""
import argparse
import asyncio
import json
import sys
import time

try:
    from qemu.qmp import ConnectError, EventListener, ExecuteError, QMPClient, Runstate
    from qemu.qmp.legacy import QEMUMonitorProtocol
except ImportError as e:
    print(json.dumps({"ok": False, "error": "qemu.qmp cannot be imported (%s; sys.path=%s): "
                      "run scripts/install-test-deps.sh and put its cache on PYTHONPATH" % (e, sys.path)}))
    sys.exit(3)

# QEMU 7.2's texts for the two failing commands (qapi/qmp-dispatch.c, migration/migration.c).
UNKNOWN_COMMAND = ("CommandNotFound", "The command no-such-command has not been found")
INCOMING_ON_SOURCE = ("GenericError", "'-incoming' was not specified on the command line")


class CheckFailed(Exception):
    """A reply or event that is not what QEMU's protocol says it must be."""


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def address(text):
    """unix:PATH or tcp:HOST:PORT as qemu.qmp's SocketAddrT (a path, or a (host, port) tuple)."""
    if text.startswith("unix:"):
        return text[len("unix:"):]
    if text.startswith("tcp:"):
        host, _, port = text[len("tcp:"):].rpartition(":")
        return (host.strip("[]"), int(port))
    raise SystemExit("address must be unix:PATH or tcp:HOST:PORT: %s" % text)


class Deadline:
    """One budget for the whole run, so that no wait can hang the test that runs this script."""

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self):
        left = self.end - time.monotonic()
        if left <= 0:
            raise CheckFailed("the run did not finish within %s s" % self.seconds)
        return left

    async def wait(self, what, awaitable):
        try:
            return await asyncio.wait_for(awaitable, self.left())
        except asyncio.TimeoutError:
            raise CheckFailed("timed out waiting for %s (budget %s s)" % (what, self.seconds)) from None


def greeting_of(client):
    g = client.greeting
    check(g is not None, "%s: no greeting" % client.name)
    return {"version": dict(g.QMP.version), "capabilities": list(g.QMP.capabilities)}


async def connect(client, addr, deadline):
    """Connects, reads the greeting and negotiates; retries while the server's socket is not there yet."""
    while True:
        try:
            await deadline.wait("%s to accept QMP connections" % client.name, client.connect(addr))
            return
        except ConnectError as e:
            if not isinstance(e.exc, (FileNotFoundError, ConnectionRefusedError)):
                raise
            deadline.left()
            await asyncio.sleep(0.05)  # a poll of a socket that is still being created, not a guess of a time


async def expect_error(client, deadline, command, arguments, expected):
    """Runs a command that must fail; returns its error as qemu.qmp's ExecuteError saw it."""
    try:
        reply = await deadline.wait(command, client.execute(command, arguments))
    except ExecuteError as e:
        got = {"class": e.error_class, "desc": e.error.error.desc}
        check((got["class"], got["desc"]) == expected,
              "%s: %s should fail with class=%s desc=%r, got %s" % (client.name, command, expected[0], expected[1], got))
        return got
    raise CheckFailed("%s: %s should fail, it returned %r" % (client.name, command, reply))


async def statuses_until_completed(listener, deadline, who, passes=None):
    """MIGRATION statuses from one listener, in order, until completed; counts MIGRATION_PASS on the way."""
    seen = []
    while not seen or seen[-1] != "completed":
        event = await deadline.wait("%s MIGRATION completed (seen %s)" % (who, seen), listener.get())
        check("timestamp" in event and {"seconds", "microseconds"} <= set(event["timestamp"]),
              "%s: event without a QMP timestamp: %s" % (who, event))
        if event["event"] == "MIGRATION_PASS":
            check(passes is not None, "%s: unexpected MIGRATION_PASS" % who)
            passes.append(event["data"]["pass"])
            continue
        status = event["data"]["status"]
        check(status not in ("failed", "cancelled"), "%s: migration %s (events so far %s)" % (who, status, seen))
        seen.append(status)
        check(len(seen) < 20, "%s: no completed among %s" % (who, seen))
    return seen


async def query_migrate_until(client, deadline, status):
    while True:
        info = await deadline.wait("query-migrate", client.execute("query-migrate"))
        if info.get("status") == status:
            return info
        check(info.get("status") not in ("failed", "cancelled"), "%s: query-migrate %s" % (client.name, info))
        await asyncio.sleep(0.05)  # polling a state the event already announced; bounded by the deadline


async def hang_up_after_quit(client, deadline):
    """quit, then the server closes the stream; qemu.qmp must see that by itself and report at most EOF."""
    reply = await deadline.wait("quit", client.execute("quit"))
    check(reply == {}, "%s: quit returned %r" % (client.name, reply))
    # polled, not awaited with runstate_changed(): qemu.qmp sets and clears that event at once, so a change made
    # while wait_for's task has not started waiting yet (the hang-up racing quit's reply) is never seen
    while client.runstate == Runstate.RUNNING:
        deadline.left()
        await asyncio.sleep(0.02)
    try:
        await deadline.wait("disconnect", client.disconnect())
        how = "closed"
    except EOFError:
        how = "eof"  # the server closed the stream: what QEMU does after quit (machine.py expects it)
    check(client.runstate == Runstate.IDLE, "%s: runstate %s after disconnect" % (client.name, client.runstate))
    return how


async def drive(args, summary, deadline):
    src, dst = QMPClient("source"), QMPClient("destination")
    s, d = summary["source"], summary["destination"]
    await connect(src, address(args.source), deadline)
    await connect(dst, address(args.dest), deadline)
    s["greeting"], d["greeting"] = greeting_of(src), greeting_of(dst)

    s["status_before"] = (await src.execute("query-status"))["status"]
    d["status_before"] = (await dst.execute("query-status"))["status"]
    check(d["status_before"] == "inmigrate", "destination: query-status before %s" % d["status_before"])
    s["query_migrate_before"] = await src.execute("query-migrate")
    check("status" not in s["query_migrate_before"], "source: a migration before migrate: %s" % s["query_migrate_before"])

    summary["errors"] = {
        "unknown_command": await expect_error(src, deadline, "no-such-command", None, UNKNOWN_COMMAND),
        "migrate_incoming_on_source": await expect_error(src, deadline, "migrate-incoming", {"uri": "tcp:127.0.0.1:0"},
                                                         INCOMING_ON_SOURCE),
    }

    events_on = {"capabilities": [{"capability": "events", "state": True}]}
    check(await src.execute("migrate-set-capabilities", events_on) == {}, "source: migrate-set-capabilities")
    check(await dst.execute("migrate-set-capabilities", events_on) == {}, "destination: migrate-set-capabilities")
    # QEMU's default 32 MiB/s would make the copy last seconds per 32 MiB of guest RAM
    check(await src.execute("migrate-set-parameters", {"max-bandwidth": 1 << 30}) == {}, "migrate-set-parameters")

    with src.listener(("MIGRATION", "MIGRATION_PASS")) as src_events, dst.listener("MIGRATION") as dst_events:
        check(await dst.execute("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}) == {}, "migrate-incoming")
        listening = await dst.execute("query-migrate")
        at = listening.get("socket-address") or []
        check(len(at) >= 1 and at[0].get("type") == "inet", "destination: query-migrate without socket-address: %s" % listening)
        uri = "tcp:%s:%s" % (at[0]["host"], at[0]["port"])
        d["listening_query_migrate_status"] = listening.get("status")

        check(await src.execute("migrate", {"uri": uri}) == {}, "migrate")
        passes = []
        s["events"] = await statuses_until_completed(src_events, deadline, "source", passes)
        d["events"] = await statuses_until_completed(dst_events, deadline, "destination")
        check(passes and passes == list(range(1, len(passes) + 1)), "source: MIGRATION_PASS numbers %s" % passes)
        s["passes"] = len(passes)

    info = await query_migrate_until(src, deadline, "completed")
    check(info.get("ram", {}).get("total", -1) >= 0 and "total-time" in info, "source: completed query-migrate %s" % info)
    s["query_migrate_after_status"] = info["status"]
    d["query_migrate_after_status"] = (await query_migrate_until(dst, deadline, "completed"))["status"]
    s["status_after"] = (await src.execute("query-status"))["status"]
    d["status_after"] = (await dst.execute("query-status"))["status"]
    check(await dst.execute("cont") == {}, "destination: cont")
    d["status_after_cont"] = (await dst.execute("query-status"))["status"]

    s["quit"] = await hang_up_after_quit(src, deadline)
    await deadline.wait("destination disconnect", dst.disconnect())  # ours: must end without an error


def drive_legacy(args, summary, deadline):
    """The synchronous wrapper on a second connection to the destination, which then quits."""
    legacy = {}
    summary["destination"]["legacy"] = legacy
    asyncio.set_event_loop(asyncio.new_event_loop())  # QEMUMonitorProtocol runs its own loop in this thread
    qmp = QEMUMonitorProtocol(address(args.dest), nickname="destination-legacy")
    try:
        qmp.settimeout(deadline.left())
        greeting = qmp.connect()
        check(greeting is not None and "QMP" in greeting, "legacy: greeting %r" % greeting)
        legacy["greeting_version"] = greeting["QMP"]["version"]
        reply = qmp.cmd("query-status")  # the raw reply, as iotests see it
        check("return" in reply, "legacy: query-status reply %r" % reply)
        legacy["status"] = reply["return"]["status"]
        legacy["query_migrate_status"] = qmp.command("query-migrate").get("status")
        try:
            qmp.command("no-such-command")
            raise CheckFailed("legacy: no-such-command returned")
        except ExecuteError as e:
            legacy["error"] = {"class": e.error_class, "desc": e.error.error.desc}
            check((e.error_class, e.error.error.desc) == UNKNOWN_COMMAND, "legacy: error %s" % legacy["error"])
        reply = qmp.cmd("quit")
        check(reply.get("return") == {}, "legacy: quit reply %r" % reply)
    except BaseException:
        try:
            qmp.close()
        except Exception:
            pass
        raise
    try:
        qmp.close()
        legacy["quit"] = "closed"
    except EOFError:
        legacy["quit"] = "eof"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="the source's QMP address, unix:PATH or tcp:HOST:PORT")
    parser.add_argument("--dest", required=True, help="the destination's QMP address (started with incoming defer)")
    parser.add_argument("--timeout", type=float, default=120, help="budget for the whole run in seconds")
    args = parser.parse_args()
    summary = {"ok": False, "source": {}, "destination": {}}
    deadline = Deadline(args.timeout)
    try:
        asyncio.run(drive(args, summary, deadline))
        drive_legacy(args, summary, deadline)
        summary["ok"] = True
    except Exception as e:  # every failure ends as the summary's error, with its type
        summary["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(summary, sort_keys=True))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
