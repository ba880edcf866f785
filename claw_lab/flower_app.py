"""claw_lab's Celery app as Flower runs it: the same app and configuration, on kombu's own Redis transport.

Flower names the broker it reads queue lengths from by the scheme of the app's broker
URI, and the dead-letter transport workers use (`claw_lab.transport`) gives that URI its
own scheme, which Flower does not know (``/api/queues/length`` answers 404). Flower
consumes no task messages, so the plain transport, which keeps ``redis://``, serves it.
"""

from __future__ import annotations

from claw_lab.celery_app import app

app.conf.broker_transport = None

__all__ = ["app"]
