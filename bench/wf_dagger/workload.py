"""The bench workflow written for the seed engine (wf-dagger 0.2.6), the way its README does it.

Two processes, PAYMENT then SHIPPING, each a KafkaCommandTask followed by a KafkaListenerTask
whose correlatable key is the order id; runtime_parameters hold the order. Runs only inside the
seed engine's virtualenv.
"""

# The seed engine's classes are untyped (Any) here, so its tasks subclass Any.
# mypy: disallow-subclassing-any=False

from __future__ import annotations

import json
from typing import Any

from dagger.modeler.builder_helper import DAGBuilderHelper  # type: ignore[import-not-found]
from dagger.service.services import Dagger  # type: ignore[import-not-found]
from dagger.tasks.task import (  # type: ignore[import-not-found]
    KafkaCommandTask,
    KafkaListenerTask,
)

WORKFLOW = "BenchOrders"


def names(run: str) -> dict[str, str]:
    """This run's topic names: fresh ones, so nothing of an earlier run is consumed."""
    step = ("PAYMENT_COMMAND", "PAYMENT_LISTENER", "SHIPPING_COMMAND", "SHIPPING_LISTENER")
    return {name: f"wf-{run}-{name}" for name in step}


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def _order(runtime_parameters: dict[str, Any]) -> str:
    return str(runtime_parameters["order_id"])


class PaymentCommand(KafkaCommandTask):
    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: Any = None
    ) -> None:
        order = _order(runtime_parameters)
        payload = {"order_id": order, "amount_cents": runtime_parameters["amount_cents"]}
        await Dagger.app.topics[self.topic].send(key=order.encode(), value=encode(payload))

    async def stop(self, runtime_parameters: dict[str, Any], workflow_instance: Any = None) -> None:
        return None


class ShippingCommand(KafkaCommandTask):
    async def execute(
        self, runtime_parameters: dict[str, Any], workflow_instance: Any = None
    ) -> None:
        order = _order(runtime_parameters)
        payload = {"order_id": order, "address": "1 Main St"}
        await Dagger.app.topics[self.topic].send(key=order.encode(), value=encode(payload))

    async def stop(self, runtime_parameters: dict[str, Any], workflow_instance: Any = None) -> None:
        return None


class OrderListener(KafkaListenerTask):
    """Waits for the reply whose order_id equals this workflow's."""

    correlatable_key = "order_id"

    async def get_correlatable_keys_from_payload(self, payload: Any) -> list[tuple[str, str]]:
        return [(self.correlatable_key, json.loads(payload)[self.correlatable_key])]

    def get_correlatable_key(self, payload: Any) -> tuple[str, str]:
        return self.correlatable_key, json.loads(payload)[self.correlatable_key]

    async def stop(self, runtime_parameters: dict[str, Any], workflow_instance: Any = None) -> None:
        return None


class PaymentListener(OrderListener):
    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["paid"] = bool(json.loads(args[0])["ok"])
        return True


class ShippingListener(OrderListener):
    async def on_message(
        self, runtime_parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> bool:
        runtime_parameters["tracking"] = str(json.loads(args[0])["tracking"])
        return True


def _process(helper: Any, name: str, command: tuple[str, type], listener: tuple[str, type]) -> Any:
    tasks = helper.build_and_link_tasks(
        [
            helper.generic_command_task_builder(
                topic=command[0],
                task_type=command[1],
                process_name=name,
                key_type=bytes,
                value_type=bytes,
            ),
            helper.generic_listener_task_builder(
                topic=listener[0],
                task_type=listener[1],
                process_name=name,
                key_type=bytes,
                value_type=bytes,
            ),
        ]
    )
    return helper.generic_process_builder(process_name=name, root_task=tasks)


def register(engine: Any, topics: dict[str, str]) -> Any:
    """Define the workflow on `engine` (a Dagger) and return its template."""
    helper = DAGBuilderHelper(dagger_app=engine)
    payment = _process(
        helper,
        "PAYMENT",
        (topics["PAYMENT_COMMAND"], PaymentCommand),
        (topics["PAYMENT_LISTENER"], PaymentListener),
    )
    shipping = _process(
        helper,
        "SHIPPING",
        (topics["SHIPPING_COMMAND"], ShippingCommand),
        (topics["SHIPPING_LISTENER"], ShippingListener),
    )
    root = helper.build_and_link_processes([payment, shipping])
    template = helper.generic_template(template_name=WORKFLOW, root_process=root)
    engine.template_dags[WORKFLOW] = template
    return template
