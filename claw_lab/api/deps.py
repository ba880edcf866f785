"""The dependencies routes declare, as ``Annotated`` aliases: the manager, settings and role-checked callers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from claw_lab.api.auth import require_role
from claw_lab.manager import Manager
from claw_lab.settings import Settings
from claw_lab.tokens import ApiToken, Role

TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"


def get_manager(request: Request) -> Manager:
    """The manager the app was built with."""
    manager: Manager = request.app.state.manager
    return manager


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


ManagerDep = Annotated[Manager, Depends(get_manager)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

Viewer = Annotated[ApiToken, Depends(require_role(Role.VIEWER))]
Operator = Annotated[ApiToken, Depends(require_role(Role.OPERATOR))]
Admin = Annotated[ApiToken, Depends(require_role(Role.ADMIN))]

TaskId = Annotated[
    str,
    Path(
        pattern=TASK_ID_PATTERN,
        max_length=128,
        description="A task id: 1-128 letters, digits, '-', '_', '.' or ':'",
        examples=["6f1c2a9e-3b7d-4c1e-9a8f-2d5b7e0c4a11"],
    ),
]
