"""Cold start of the Lambda handler: ``import handlers.api`` against importing its bare dependencies.

Runs ``python -c "import handlers.api"`` (which builds the app, its manager and clients)
and ``python -c "import celery, fastapi, mangum, redis"`` alternately in fresh processes,
and reports medians and their ratio (goal <= 1.15x). The handler pauses the cyclic GC
while it starts; a third variant gives the bare imports the same pause, so the like-for-like
ratio shows what claw_lab's own code adds. Also lists any heavy back-end module
the handler import pulled in (there should be none).

    .venv/bin/python bench/cold_start.py [RUNS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from bench._common import ROOT, report

HANDLER = "import handlers.api"
BARE = "import celery, fastapi, mangum, redis"
# The handler pauses the cyclic GC while it starts (handlers/api.py); the same pause on the
# bare imports shows what claw_lab's own code adds, like for like.
BARE_PAUSED = "import gc; gc.disable(); import celery, fastapi, mangum, redis; gc.freeze(); gc.enable()"
HEAVY = ("lancedb", "pyarrow", "torch", "ipywidgets", "papermill", "pandas", "numpy", "sklearn")


def run(code: str, env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - began


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CLAW_REDIS_URL": "redis://127.0.0.1:6390/0",  # never contacted at import
        "CLAW_API_AUTH_DISABLED": "true",
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    run(HANDLER, env), run(BARE, env), run(BARE_PAUSED, env)  # warm the bytecode and page caches
    handler, bare, paused = [], [], []
    for _ in range(runs):
        handler.append(run(HANDLER, env))
        bare.append(run(BARE, env))
        paused.append(run(BARE_PAUSED, env))
    probe = f"{HANDLER}; import sys, json; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    heavy = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        ).stdout
    )
    ratio = statistics.median(handler) / statistics.median(bare)
    like_for_like = statistics.median(handler) / statistics.median(paused)
    report(
        f"cold start ({runs} interleaved runs each; goal <= 1.15x)",
        [
            (f"baseline: python -c '{BARE}'", f"median {statistics.median(bare) * 1e3:.0f} ms"),
            (f"python -c '{HANDLER}'", f"median {statistics.median(handler) * 1e3:.0f} ms  ({ratio:.2f}x baseline)"),
            ("bare imports with the handler's GC pause", f"median {statistics.median(paused) * 1e3:.0f} ms"),
            ("handler against that (like for like)", f"{like_for_like:.2f}x"),
            ("heavy modules imported", ", ".join(heavy) or "none"),
        ],
    )


if __name__ == "__main__":
    main()
