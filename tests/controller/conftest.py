"""Shared fixtures for controller tests: run `async def` tests on a fresh event loop.

No asyncio plugin is a dependency, so this hook runs coroutine tests itself, each on its own loop
(uvloop when the test asks for it with the `uvloop` marker), with a wall-clock guard so a broken
test fails instead of hanging. Time inside the tests is a `FakeClock`: they never sleep.
"""
import asyncio
import inspect

import pytest

from tiphys.controller.clock import FakeClock

# A guard against a hung test, not a speed limit: tests on the FakeClock still spend real CPU
# turning the loop between clock steps (the cron tests 2-6 s on a quiet machine), which a loaded
# CI machine stretches several times; 20 s was within reach of that.
TEST_TIMEOUT = 120.0


async def _settle(turns: int = 20) -> None:
    """Let every ready task run (a few loop turns), e.g. after `FakeClock.advance`."""
    for _ in range(turns):
        await asyncio.sleep(0)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**args), TEST_TIMEOUT))
    return True


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settle():
    """`await settle()` lets every ready task run a few loop turns."""
    return _settle
