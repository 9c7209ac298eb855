"""The tokq package against a real tokqd: results, denials, every exception
class, pipelining, the co-process's death and restart, context managers."""

import asyncio
import os
import signal
import subprocess
import tempfile
import time
import unittest

import tokq
from tokq import (AsyncTokq, InternalError, InvalidData, PermissionDenied, Result,
                  TemporaryError, Tokq, TokqError, Unavailable, UsageError)

from support import TOKQ, Daemon, canned_tokq, dying_tokq

D: Daemon


def setUpModule() -> None:
    global D
    D = Daemon()
    # 1000 tokens a day for everyone, 100 for bob; warnings at 80 and 95 %.
    D.tq("limit", "set", "--default", "--tokens", "1000", "--per", "day")
    D.tq("limit", "set", "--user", "bob", "--tokens", "100", "--per", "day")


def tearDownModule() -> None:
    D.stop()


def wait_dead(pid: int) -> None:
    for _ in range(400):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:                            # our child: reap it if nobody else does
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.005)


class SyncTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tq = Tokq(socket=D.socket, tokq=TOKQ)
        self.addCleanup(self.tq.close)

    def test_allowed_check_is_a_result_with_attributes(self) -> None:
        r = self.tq.check("alice", model="gpt-4o-mini", tokens=10)
        self.assertIsInstance(r, Result)
        self.assertEqual((r.exit, r.allowed, r.denied_by, r.warning), (0, True, None, 0))
        self.assertEqual(r.limits[0].selector, "default")
        self.assertEqual(r.limits[0]["limit"], 1000)

    def test_denied_check_is_a_result_not_an_exception(self) -> None:
        r = self.tq.check("bob", tokens=500, guild="g1", channel="c1")
        self.assertEqual((r.exit, r.allowed), (1, False))
        self.assertEqual((r.denied_by.selector, r.denied_by.limit, r.denied_by.window),
                         ("user", 100, "day"))
        self.assertIn("retry_at", r)
        with self.assertRaises(AttributeError):
            r.no_such_key

    def test_reserve_record_with_hold_and_key_warns_once(self) -> None:
        r = self.tq.check("carol", model="m1", tokens=900, reserve=True, ttl=60)
        self.assertTrue(r.allowed)
        hold = r.hold
        self.assertEqual(D.json("status")["holds"], 1)
        usage = {"prompt_tokens": 700, "completion_tokens": 150, "total_tokens": 850}
        rec = self.tq.record("carol", model="m1", usage=usage, key="carol-1", hold=hold,
                             meta={"message": 1}, service="chat", session="s1", call=0)
        self.assertEqual((rec.recorded, rec.duplicate, rec.total, rec.crossed),
                         (True, False, 850, 80))
        self.assertEqual(D.json("status")["holds"], 0)
        again = self.tq.record("carol", model="m1", usage=usage, key="carol-1", hold=hold,
                               meta={"message": 1}, service="chat", session="s1", call=0)
        self.assertTrue(again.duplicate)
        u = self.tq.usage("carol")
        self.assertEqual((u.periods["all"].requests, u.periods["30d"].total), (1, 850))
        rec = self.tq.record("carol", model="m1", prompt=10, completion=5, cost=0.00001)
        self.assertEqual((rec.total, rec.crossed, rec.cost_usd), (15, None, 0.00001))

    def test_usage_as_json_text_and_explicit_counts(self) -> None:
        rec = self.tq.record("dave", model="m2", guild="g2",
                             usage='{"input_tokens": 30, "output_tokens": 20}')
        self.assertEqual((rec.prompt, rec.completion), (30, 20))
        rec = self.tq.record("dave", model="m2", prompt=5, completion=5, cached=2,
                             reasoning=1, cache_write=1, total=10, kind="k", channel="c")
        self.assertEqual(rec.total, 10)
        self.assertEqual(self.tq.usage("dave", guild="g2", model="m2").periods["all"].total, 60)

    def test_release_and_unknown_hold_is_invalid_data(self) -> None:
        hold = self.tq.check("erin", tokens=5, reserve=True).hold
        self.assertEqual(self.tq.release(hold).exit, 0)
        with self.assertRaises(InvalidData) as cm:
            self.tq.release(hold)
        e = cm.exception
        self.assertEqual((e.exit, e.result.exit), (65, 65))
        self.assertIn("hold", e.error)
        self.assertIsInstance(e, TokqError)

    def test_usage_error_is_judged_before_sending(self) -> None:
        with self.assertRaises(UsageError) as cm:
            self.tq.check("frank", tokens=-5)
        self.assertEqual(cm.exception.exit, 64)
        self.assertIn("--tokens", str(cm.exception))
        with self.assertRaises(UsageError):
            self.tq.run("no-such-command")
        # the co-process goes on after a bad request
        self.assertTrue(self.tq.check("frank").allowed)

    def test_run_any_command(self) -> None:
        rules = self.tq.run("limit", "list").rules
        self.assertIn(("user", "bob", 100), [(r.selector, r.subject, r.limit) for r in rules])
        self.assertEqual(self.tq.run("status").protocol, 1)

    def test_unreachable_daemon_is_unavailable(self) -> None:
        with Tokq(socket=os.path.join(D.dir, "nothing-here"), tokq=TOKQ) as tq:
            with self.assertRaises(Unavailable) as cm:
                tq.check("alice")
            self.assertEqual(cm.exception.exit, 69)
            self.assertIn("nothing-here", cm.exception.error)

    def test_missing_tokq_is_unavailable(self) -> None:
        with self.assertRaises(Unavailable):
            Tokq(tokq="tokq-does-not-exist-here").check("alice")
        with self.assertRaises(Unavailable):
            Tokq(tokq="/nonexistent/tokq").check("alice")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run tokq as nobody")
    def test_admin_command_from_non_admin_is_permission_denied(self) -> None:
        d = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, d)
        os.chmod(d, 0o755)
        os.chmod(D.dir, 0o711)
        os.chmod(D.socket, 0o666)
        nobody = os.path.join(d, "tokq-as-nobody")
        with open(nobody, "w") as f:
            f.write(f"#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups "
                    f"{TOKQ} \"$@\"\n")
        os.chmod(nobody, 0o755)
        self.addCleanup(os.unlink, nobody)
        with Tokq(socket=D.socket, tokq=nobody) as tq:
            self.assertTrue(tq.check("alice").allowed)
            with self.assertRaises(PermissionDenied) as cm:
                tq.run("limit", "set", "--global", "--tokens", "1", "--per", "day")
            self.assertEqual(cm.exception.exit, 77)
        self.assertNotIn("global", [r["selector"] for r in D.json("limit", "list")["rules"]])

    def test_each_exit_code_raises_its_class(self) -> None:
        table = [(64, UsageError), (65, InvalidData), (69, Unavailable), (70, InternalError),
                 (75, TemporaryError), (77, PermissionDenied), (99, TokqError)]
        d = tempfile.mkdtemp()
        stub = canned_tokq(d, [{"exit": c, "error": f"tokq: failed {c}", "temporary": "refused"}
                               for c, _ in table])
        self.addCleanup(lambda: (os.unlink(stub), os.rmdir(d)))
        with Tokq(tokq=stub) as tq:
            for code, cls in table:
                with self.assertRaises(cls) as cm:
                    tq.check("alice")
                e = cm.exception
                self.assertIs(type(e), cls)
                self.assertEqual((e.exit, e.error, e.result.exit), (code, f"tokq: failed {code}",
                                                                    code))

    def test_garbage_from_the_co_process_is_internal_error(self) -> None:
        d = tempfile.mkdtemp()
        stub = canned_tokq(d, ["not an object"])
        self.addCleanup(lambda: (os.unlink(stub), os.rmdir(d)))
        with Tokq(tokq=stub) as tq, self.assertRaises(InternalError):
            tq.check("alice")

    def test_death_between_calls_restarts_the_co_process(self) -> None:
        self.tq.check("gina")
        pid = self.tq.pid
        os.kill(pid, signal.SIGKILL)
        wait_dead(pid)
        self.assertTrue(self.tq.check("gina").allowed)
        self.assertNotEqual(self.tq.pid, pid)

    def test_death_in_flight_is_temporary_and_retry_with_key_counts_once(self) -> None:
        d = tempfile.mkdtemp()
        stub = dying_tokq(d)
        with Tokq(socket=D.socket, tokq=stub) as tq:
            tq.check("hank")
            pid = tq.pid
            with self.assertRaises(TemporaryError) as cm:
                tq.record("hank", model="m1", prompt=40, completion=2, key="hank-1")
            self.assertEqual(cm.exception.result.temporary, "unknown")
            rec = tq.record("hank", model="m1", prompt=40, completion=2, key="hank-1")
            self.assertNotEqual(tq.pid, pid)
            self.assertTrue(rec.duplicate)
        self.assertEqual(D.json("usage", "--user", "hank")["periods"]["all"]["requests"], 1)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)

    def test_with_closes_the_co_process(self) -> None:
        with Tokq(socket=D.socket, tokq=TOKQ) as tq:
            tq.check("ivan")
            proc = tq._proc
        self.assertEqual(proc.returncode, 0)
        with self.assertRaises(ValueError):
            tq.check("ivan")
        tq.close()

    def test_tokq_socket_passes_through(self) -> None:
        old = os.environ.get("TOKQ_SOCKET")
        os.environ["TOKQ_SOCKET"] = D.socket
        try:
            with Tokq(tokq=TOKQ) as tq:
                self.assertEqual(tq.run("status").socket, D.socket)
        finally:
            if old is None:
                del os.environ["TOKQ_SOCKET"]
            else:
                os.environ["TOKQ_SOCKET"] = old


class AsyncTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.tq = AsyncTokq(socket=D.socket, tokq=TOKQ)

    async def asyncTearDown(self) -> None:
        await self.tq.close()

    async def test_200_concurrent_calls_answered_in_order(self) -> None:
        # Each answer can only be its own call's: user i records i tokens,
        # odd users ask for more than their room.
        n = 200
        recs = await asyncio.gather(*(self.tq.record(f"a{i}", model="m", prompt=i, completion=0,
                                                     key=f"a{i}") for i in range(n)))
        self.assertEqual([r.total for r in recs], list(range(n)))
        checks = await asyncio.gather(*(self.tq.check(f"a{i}", tokens=990 - i + 20 * (i % 2))
                                        for i in range(n)))
        self.assertEqual([c.allowed for c in checks], [i % 2 == 0 for i in range(n)])
        self.assertEqual([c.limits[0].used for c in checks], list(range(n)))
        usages = await asyncio.gather(*(self.tq.usage(f"a{i}") for i in range(n)))
        self.assertEqual([u.user for u in usages], [f"a{i}" for i in range(n)])
        self.assertEqual([u.periods["all"].prompt for u in usages], list(range(n)))

    async def test_one_co_process_for_all_calls(self) -> None:
        await self.tq.check("judy")
        pid = self.tq.pid
        await asyncio.gather(*(self.tq.check("judy") for _ in range(50)))
        self.assertEqual(self.tq.pid, pid)

    async def test_loop_is_never_blocked(self) -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.ensure_future(ticker())
        await asyncio.gather(*(self.tq.check(f"k{i}") for i in range(100)))
        t.cancel()
        self.assertGreater(ticks, 10)

    async def test_denial_and_errors(self) -> None:
        r = await self.tq.check("bob", tokens=500)
        self.assertEqual((r.allowed, r.exit, r.denied_by.limit), (False, 1, 100))
        with self.assertRaises(InvalidData):
            await self.tq.release("no-such-hold")
        with self.assertRaises(UsageError):
            await self.tq.check("bob", tokens=-1)
        hold = (await self.tq.check("lena", tokens=5, reserve=True)).hold
        self.assertEqual((await self.tq.release(hold)).exit, 0)
        async with AsyncTokq(socket=os.path.join(D.dir, "nothing-here"), tokq=TOKQ) as tq:
            with self.assertRaises(Unavailable):
                await tq.check("bob")

    async def test_death_in_flight_fails_pending_calls_and_restarts(self) -> None:
        d = tempfile.mkdtemp()
        stub = dying_tokq(d)
        async with AsyncTokq(socket=D.socket, tokq=stub) as tq:
            await tq.check("mike")
            pid = tq.pid
            before = [tq.check("mike") for _ in range(5)]
            rec = tq.record("mike", model="m1", prompt=30, completion=3, key="mike-1")
            after = [tq.check("mike") for _ in range(5)]
            out = await asyncio.gather(*before, rec, *after, return_exceptions=True)
            self.assertTrue(all(isinstance(r, Result) and r.allowed for r in out[:5]))
            self.assertIsInstance(out[5], TemporaryError)
            # Those written after it are lost with it, or answered by the
            # next co-process if they were written after it died.
            self.assertTrue(all(isinstance(r, TemporaryError) or r.allowed for r in out[6:]))
            again = await tq.record("mike", model="m1", prompt=30, completion=3, key="mike-1")
            self.assertTrue(again.duplicate)
            self.assertNotEqual(tq.pid, pid)
        self.assertEqual(D.json("usage", "--user", "mike")["periods"]["all"]["total"], 33)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)

    async def test_killed_co_process_is_restarted(self) -> None:
        await self.tq.check("nina")
        pid = self.tq.pid
        os.kill(pid, signal.SIGKILL)
        for _ in range(400):            # until its reader has seen the end
            if self.tq._child is not None and self.tq._child.dead:
                break
            await asyncio.sleep(0.005)
        self.assertTrue((await self.tq.check("nina")).allowed)
        self.assertNotEqual(self.tq.pid, pid)

    async def test_close_answers_calls_in_flight_first(self) -> None:
        tq = AsyncTokq(socket=D.socket, tokq=TOKQ)
        await tq.check("o")
        tasks = [asyncio.ensure_future(tq.check(f"o{i}")) for i in range(50)]
        await asyncio.sleep(0.01)
        await tq.close()
        self.assertTrue(all(t.result().allowed for t in tasks))
        with self.assertRaises(ValueError):
            await tq.check("o1")

    async def test_async_with_closes_the_co_process(self) -> None:
        async with AsyncTokq(socket=D.socket, tokq=TOKQ) as tq:
            await tq.check("pat")
            proc = tq._child.proc
        self.assertEqual(proc.returncode, 0)

    async def test_cancelled_call_does_not_shift_answers(self) -> None:
        t = asyncio.ensure_future(self.tq.usage("a-cancel"))
        await asyncio.sleep(0)
        t.cancel()
        r = await self.tq.check("bob", tokens=500)
        self.assertEqual(r.denied_by.subject, "bob")


if __name__ == "__main__":
    unittest.main()
