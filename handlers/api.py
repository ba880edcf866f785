"""The Lambda entry point of the management API: Mangum around `claw_lab.api.create_app`.

The app, its manager and their Redis clients are built at import, once per Lambda
container, and reused by every warm invocation; the clients use keepalive and a
health-check interval, so a thawed container reconnects cleanly. Celery's app and kombu
load with the first request that publishes, reads queue depths or controls workers
(`TaskManager.app`), so reads never pay for them.

Start-up allocates many long-lived objects (routes, models, settings) and no garbage, so
the cyclic collector is paused while they are built and then told to leave them alone
(`gc.freeze`): no collection pass walks them during the cold start or in warm invocations.
"""

from __future__ import annotations

import gc

gc.disable()
try:
    from mangum import Mangum

    from claw_lab.api import create_app

    app = create_app()
    handler = Mangum(app, lifespan="off")
finally:
    gc.freeze()
    gc.enable()
