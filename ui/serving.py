"""Where the app may be served: 127.0.0.1 unless the user asks for every interface on purpose.

The repository's .streamlit/config.toml sets server.address = 127.0.0.1. Streamlit reads ~/.streamlit/config.toml,
then $CWD/.streamlit/config.toml, then (recent versions: the pinned 1.67 does, checked) the "script-level"
.streamlit/config.toml beside the file given to `streamlit run`; environment variables (STREAMLIT_SERVER_ADDRESS) and
flags (--server.address) override them. So `streamlit run /path/app.py` binds 127.0.0.1 from any folder here, but an
older Streamlit, a copied app.py or a missing .streamlit folder leaves the address unset: every interface. `make run`
passes --server.address 127.0.0.1 as well, and the app checks the address it was given before it shows anything
(`listen_problem`): anyone on the network could otherwise read and change the workspace.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

ALL_INTERFACES = ("", "0.0.0.0", "::", "[::]")
APP = Path(__file__).resolve().parent.parent / "app.py"


def listen_problem(address: str | None, env: Mapping[str, str]) -> str | None:
    """Why the app must not serve on this address (None: it may). An unset address is every interface."""
    if (address or "").strip() not in ALL_INTERFACES or env.get("PRISM_ALLOW_REMOTE") == "1":
        return None
    shown = f"server.address is {address!r}" if (address or "").strip() else "server.address is not set"
    return (f"Prism Studio refuses to serve: this server listens on every network interface ({shown}), so anyone "
            f"who can reach this machine could read and change your workspace. Stop it (Ctrl-C) and start it on "
            f"this machine only:\n\n`streamlit run {APP} --server.address 127.0.0.1`\n\n(or `make run` in "
            f"{APP.parent}). To serve every interface on purpose, set PRISM_ALLOW_REMOTE=1.")
