"""The engine over a SASL_SSL listener of a real broker (TLS with a test authority, SASL PLAIN):
runs complete, and a wrong password or an unknown authority is one BackendError naming Kafka."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from generated.orders import OrderWorkflow
from runtime import BackendError, Engine
from runtime.backends.kafka_security import PASSWORD_ENV

from .secured import PASSWORD, SCRAM_USER, USER, Secured, secured_broker
from .support import ENGINE_TOPICS, KAFKA, Space, serve_through_subscribe, wait_finished

pytestmark = KAFKA

ORDERS = 20


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    found = secured_broker(tmp_path_factory.mktemp("secured"))
    found.broker.up()
    try:
        yield found
    finally:
        found.broker.down()


LOGINS = {"plain": (USER, ""), "scram-sha-512": (SCRAM_USER, "&sasl_mechanism=SCRAM-SHA-512")}


@pytest.mark.parametrize("login", sorted(LOGINS))
async def test_runs_complete_over_sasl_ssl(
    secured: Secured, run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, login: str
) -> None:
    user, options = LOGINS[login]
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)  # kept out of the URL
    space = Space(secured.broker.bootstrap, run_id)  # claims go through the plain listener
    group = await space.claim(space.group("engine"), ENGINE_TOPICS)
    store = f"sqlite:///{tmp_path / 'orders.db'}"
    url = secured.url(user=user, options=options)
    async with Engine(url, store, workflows=[OrderWorkflow], group=group) as engine:
        await serve_through_subscribe(engine, space)
        worker = asyncio.create_task(engine.run())
        for order in space.orders(ORDERS):
            await engine.start(OrderWorkflow, order)
        done = await wait_finished(engine, ORDERS, within=60)
        engine.shutdown()
        await worker
    assert done == ORDERS


async def test_a_wrong_password_is_one_error_that_does_not_show_it(
    secured: Secured, tmp_path: Path
) -> None:
    url = secured.url(user="dagger:wrong-password")
    with pytest.raises(BackendError) as caught:
        async with Engine(url, f"sqlite:///{tmp_path / 's.db'}", workflows=[OrderWorkflow]):
            pass
    text = str(caught.value)
    assert text == (
        f"cannot connect to Kafka at 127.0.0.1:{secured.port}: [Error 58]"
        " SaslAuthenticationFailed: Authentication failed: Invalid username or password"
    )


async def test_a_broker_certificate_of_another_authority_is_refused(
    secured: Secured, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    url = secured.url(cafile=secured.other_ca)
    with pytest.raises(BackendError) as caught:
        async with Engine(url, f"sqlite:///{tmp_path / 's.db'}", workflows=[OrderWorkflow]):
            pass
    text = str(caught.value)
    assert text.startswith(f"cannot connect to Kafka at 127.0.0.1:{secured.port}:"), text
    assert "CERTIFICATE_VERIFY_FAILED" in text, text
