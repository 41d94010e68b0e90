"""`python -m worker.serving [--host H] [--port P]`: run the model server (what `tuneloop model serve` starts)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time


def _exit_with_parent() -> None:
    # Started by `tuneloop serve`: if that server dies without stopping us (kill -9), do not live on as an orphan.
    parent = os.environ.get("TUNELOOP_EMBEDDED_PARENT_PID")
    if not parent:
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from app.serving.internal import model_server_address
    from worker.serving.server import create_server

    host, port = model_server_address()
    parser = argparse.ArgumentParser(prog="python -m worker.serving", description=__doc__)
    parser.add_argument("--host", default=host, help=f"address to listen on (default {host}, from "
                        "TUNELOOP_MODEL_SERVER_URL)")
    parser.add_argument("--port", type=int, default=port, help=f"port (default {port})")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _exit_with_parent()
    uvicorn.run(create_server(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
