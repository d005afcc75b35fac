"""arq's Worker as wadah runs it (``worker.arq_worker``), stamping this process's heartbeat (``worker.heartbeat``) from its main loop."""

from __future__ import annotations

from typing import Any

from worker.arq_worker import BatchedWorker
from worker.heartbeat import Heartbeat


class HeartbeatWorker(BatchedWorker):
    """``heart_beat`` runs after every poll of the queue; the stamp is written at most every few seconds."""

    def __init__(self, *args: Any, heartbeat: Heartbeat, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat = heartbeat

    async def heart_beat(self) -> None:
        await super().heart_beat()
        self.heartbeat.beat()
