"""What a worker role hands the process that runs it."""

from __future__ import annotations

from dataclasses import dataclass, field

import mode

from kernel.web import RouteInstaller


@dataclass
class RoleParts:
    """What a role adds to the process besides its faust agents."""

    routes: list[RouteInstaller] = field(default_factory=list)
    services: list[mode.ServiceT] = field(default_factory=list)
