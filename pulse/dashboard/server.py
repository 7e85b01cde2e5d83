"""`pulse dashboard`: Streamlit serving `dashboards/app.py` where the configuration says.

The process becomes Streamlit (exec), so a supervisor's SIGTERM (`pulse run`, Kubernetes)
reaches Streamlit itself. Headless, no usage statistics sent anywhere, no file watcher, no
developer toolbar.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from pulse.config import PROJECT_ROOT, PulseConfig

APP = PROJECT_ROOT / "dashboards" / "app.py"


def streamlit_command(conf: PulseConfig) -> list[str]:
    """The `streamlit run` command line for the configured address."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", conf.dashboard.host,
        "--server.port", str(conf.dashboard.port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button: this app is deployed already
    ]  # fmt: skip


def serve(conf: PulseConfig) -> NoReturn:
    """Replace this process with Streamlit (an OSError if it cannot be started)."""
    command = streamlit_command(conf)
    print(f"pulse dashboard: http://{conf.dashboard.host}:{conf.dashboard.port}/", flush=True)
    os.execv(command[0], command)
