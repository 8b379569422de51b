"""A scripted OpenAI-compatible chat-completions endpoint on 127.0.0.1 for tests of the real client.

    with ChatServer(lambda prompt: "A") as server:
        OpenAIJudge(server.url, "m") ...

`answer(prompt)` gives the reply to each request's first message; `prompts` records them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer:
    def __init__(self, answer: Callable[[str], str]):
        outer = self
        self.prompts: list[str] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                prompt = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["messages"][0]["content"]
                with outer._lock:
                    outer.prompts.append(prompt)
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer(prompt)}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self) -> int:
        return len(self.prompts)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
