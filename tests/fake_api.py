"""A small OpenAI-compatible embeddings server on 127.0.0.1 for tests (and for trying the API teacher
without an account): `POST /v1/embeddings` answers deterministic vectors (HashTeacher's), in shuffled
order with their `index`, plus `usage`.

Failure modes are scripted: `server.script` is a list consumed one request at a time, each entry one of
"ok", "429", "500", "401", "400", "badjson", "wrongdim", "nan", "short", "drop" (close the connection),
"truncated" (a body shorter than its Content-Length), "dupindex" (two rows with the same index), "redirect"
(302 to another address, which must never receive the key), "huge" (a 50 MB answer, Content-Length said),
"huge-unsized" (50 MB with no length, until the client hangs up), "deep" (JSON nested 100,000 levels deep), "1e38"
(every number of the vectors times 1e38: finite, but their squares overflow), "usage-lie" (usage.total_tokens of
10^12).
Every request's headers and body are recorded in `server.seen`.

It listens on 127.0.0.1, a loopback address the API teacher refuses unless the operator allows it, so while the
server runs (`with FakeEmbeddingServer() as server:`) EMBEDDING_LAB_API_ALLOW_PRIVATE=1 is set, as anyone running
a local server would set it; the previous value comes back at the end.

    python -m tests.fake_api --port 8765      # then EMBEDDING_LAB_API_BASE=http://127.0.0.1:8765/v1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from core.teachers.teacher import HashTeacher


class FakeEmbeddingServer:
    def __init__(self, dim: int = 24, port: int = 0):
        self.dim = dim
        self.teacher = HashTeacher(dim)
        self.script: list[str] = []
        self.seen: list[dict] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with outer._lock:
                    mode = outer.script.pop(0) if outer.script else "ok"
                    outer.seen.append({"path": self.path, "headers": dict(self.headers), "body": body, "mode": mode})
                if self.path.rstrip("/") != "/v1/embeddings":
                    return self._send(404, {"error": {"message": "not found"}})
                if mode == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{outer.httpd.server_address[1]}/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if mode == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "5000")
                    self.end_headers()
                    self.wfile.write(b'{"data": [')
                    self.close_connection = True
                    return
                if mode in ("huge", "huge-unsized"):
                    return self._huge(sized=mode == "huge")
                if mode in ("429", "500", "401", "400"):
                    headers = {"Retry-After": "0"} if mode == "429" else {}
                    return self._send(int(mode), {"error": {"message": f"scripted {mode}"}}, headers)
                try:
                    request = json.loads(body)
                    texts = request["input"]
                except (ValueError, KeyError):
                    return self._send(400, {"error": {"message": "bad request"}})
                if mode == "badjson":
                    return self._raw(200, b'{"data": [ {"embedding": [0.1, ')
                if mode == "deep":
                    return self._raw(200, b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
                vectors = outer.teacher.embed(texts).astype(np.float64)
                if mode == "wrongdim":
                    vectors = np.hstack([vectors, vectors])
                if mode == "nan":
                    vectors[0, 0] = np.nan
                if mode == "1e38":
                    vectors *= 1e38
                rows = [
                    {"object": "embedding", "index": i, "embedding": [float(x) if np.isfinite(x) else None for x in v]}
                    for i, v in enumerate(vectors)
                ]
                if mode == "nan":
                    rows[0]["embedding"][0] = float("nan")
                if mode == "short":
                    rows = rows[:-1]
                if mode == "dupindex" and len(rows) > 1:
                    rows[1]["index"] = rows[0]["index"]
                random.Random(len(texts)).shuffle(rows)  # clients must use 'index', not the order
                payload = {
                    "object": "list",
                    "data": rows,
                    "model": request.get("model"),
                    "usage": {
                        "prompt_tokens": sum(len(t) // 4 + 1 for t in texts),
                        "total_tokens": 10**12 if mode == "usage-lie" else sum(len(t) // 4 + 1 for t in texts),
                    },
                }
                return self._raw(200, json.dumps(payload, allow_nan=True).encode())

            def _huge(self, sized: bool, megabytes: int = 50):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if sized:
                    self.send_header("Content-Length", str(megabytes * 1_000_000))
                self.end_headers()
                self.close_connection = True
                chunk = b" " * 1_000_000
                try:
                    for _ in range(megabytes):
                        self.wfile.write(chunk)
                except OSError:  # the client hung up, as it should
                    pass

            def _send(self, code, payload, headers=None):
                self._raw(code, json.dumps(payload).encode(), headers)

            def _raw(self, code, data, headers=None):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = False  # server_close() waits for every request thread: none outlives a test
        self.httpd.block_on_close = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self._allow_before = os.environ.get("EMBEDDING_LAB_API_ALLOW_PRIVATE")
        os.environ["EMBEDDING_LAB_API_ALLOW_PRIVATE"] = "1"
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
        if self._allow_before is None:
            os.environ.pop("EMBEDDING_LAB_API_ALLOW_PRIVATE", None)
        else:
            os.environ["EMBEDDING_LAB_API_ALLOW_PRIVATE"] = self._allow_before


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--dim", type=int, default=24)
    args = parser.parse_args()
    server = FakeEmbeddingServer(args.dim, args.port)
    print(
        f"Fake embeddings API at {server.base_url} (model name: anything; set EMBEDDING_LAB_API_ALLOW_PRIVATE=1, it is on "
        "127.0.0.1). Ctrl-C stops it.",
        flush=True,
    )
    server.httpd.serve_forever()
