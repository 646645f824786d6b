"""`semitruths reports`: a small read-only web server of `<storage>/reports` (the detectors' HTML reports,
their plots and the leaderboard page), so that the UI's `report` links open in one click, also from another
machine. The standard library's file server: GET and HEAD only, paths confined to the folder, bound to
127.0.0.1 unless `reports.host` says otherwise (README "Using Dagster")."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .config import load_config
from .sections import ReportParams


class _Handler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a re-evaluated report shows at once
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        pass  # quiet beside `dagster dev`


def make_server(root: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A server of `root` on host:port (port 0: any free port; `server.server_address` says which)."""
    root.mkdir(parents=True, exist_ok=True)
    return ThreadingHTTPServer((host, port), functools.partial(_Handler, directory=str(root)))


def main(argv: Sequence[str] | None = None) -> None:
    config = load_config()
    params = config.params("reports", ReportParams)
    parser = argparse.ArgumentParser(prog="semitruths reports", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=params.host, help=f"bind address (default {params.host})")
    parser.add_argument("--port", type=int, default=params.port, help=f"(default {params.port})")
    args = parser.parse_args(argv)
    root = config.storage_root / "reports"
    server = make_server(root, args.host, args.port)
    print(f"reports: serving {root} on http://{args.host}:{server.server_address[1]} "
          f"(links in the UI: {params.url('')})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
