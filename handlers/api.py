"""The Lambda entry point of the management API: Mangum around `claw_lab.api.create_app`.

The app, its manager and their Redis clients are built at import, once per Lambda
container, and reused by every warm invocation; the clients use keepalive and a
health-check interval, so a thawed container reconnects cleanly. Celery's app and kombu
load with the first request that publishes, reads queue depths or controls workers
(`TaskManager.app`), so reads never pay for them.
"""

from __future__ import annotations

from mangum import Mangum

from claw_lab.api import create_app

app = create_app()
handler = Mangum(app, lifespan="off")
