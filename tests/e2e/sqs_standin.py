"""SQS's StartMessageMoveTask, which moto's server lacks, added to a moto server running in
this Python process. AWS: "moves messages from a dead-letter queue to its source queue (or
another destination) … asynchronously", one task per source queue at a time (SQS API
reference, StartMessageMoveTask). Here the move happens at once: every message in the
source queue is re-sent to the destination (as a new message, receive count 0) and
removed from the source. ``moves`` records each task."""

from __future__ import annotations

import threading
import uuid

from moto.core.responses import ActionResult
from moto.sqs.models import sqs_backends
from moto.sqs.responses import SQSResponse


class SqsStandin:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.moves: list[dict] = []

    def install(self) -> None:
        standin = self

        def start_message_move_task(self):  # noqa: ANN001 - moto's response method
            source = self._get_param("SourceArn")
            destination = self._get_param("DestinationArn")
            backend = sqs_backends[self.current_account][self.region]
            src = backend.get_queue(source.split(":")[-1])
            dest_name = destination.split(":")[-1] if destination else None
            with src._messages_lock:
                messages = list(src._messages)
                src._messages.clear()
            for m in messages:
                backend.send_message(dest_name, m.body)
            handle = str(uuid.uuid4())
            with standin.lock:
                standin.moves.append({"source": source, "destination": destination, "moved": len(messages), "handle": handle})
            return ActionResult({"TaskHandle": handle})

        SQSResponse.start_message_move_task = start_message_move_task
