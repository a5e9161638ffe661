"""Shared notes per workspace as a WSGI app under Python's wsgiref (standard library only), with
defects planted on purpose (the contract tester's zoo, see README.md).

  python3 notes.py [--clean]      prints the port it listens on (127.0.0.1, a free port)

Planted defects (without --clean):
  1. listNotes ignores a missing X-Workspace header and lists a default workspace
     (missing_required_header).
  2. addNote refuses text that is not ASCII with 400, though the document allows any text
     (positive_data_acceptance).
  3. deleteNote answers 200 with the deleted note, where the document says 204
     (status_code_conformance).
"""
import json
import re
import sys
import threading

import wsgi_serve

CLEAN = "--clean" in sys.argv
WORKSPACE = re.compile(r"^[a-z]{3,12}$")
notes = {}
lock = threading.Lock()


def app(environ, start_response):
    def answer(status, body=None, headers=()):
        return wsgi_serve.answer(start_response, status, body, headers)

    method, path, raw = wsgi_serve.request(environ)
    parts = path.strip("/").split("/")
    if parts[0] != "notes" or len(parts) > 2:
        return answer(404, {"error": "no such route"})
    allowed = "GET, POST" if len(parts) == 1 else "DELETE"
    if method not in allowed.split(", "):
        return answer(405, {"error": "method not allowed"}, [("Allow", allowed)])
    workspace = environ.get("HTTP_X_WORKSPACE")
    if workspace is None and method == "GET" and not CLEAN:
        workspace = "default"
    if workspace is None or not WORKSPACE.match(workspace):
        return answer(400, {"error": "no workspace"})
    with lock:
        mine = notes.setdefault(workspace, {})
        if method == "GET":
            return answer(200, list(mine.values()))
        if method == "POST":
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return answer(400, {"error": "not JSON"})
            valid = isinstance(body, dict) and set(body) == {"text"} and isinstance(body["text"], str) \
                and 1 <= len(body["text"]) <= 100
            if not valid or (not CLEAN and not body["text"].isascii()):
                return answer(400, {"error": "invalid note"})
            note = {"id": sum(len(n) for n in notes.values()) + 1, "text": body["text"]}
            mine[note["id"]] = note
            return answer(201, note)
        if not parts[1].isdigit() or int(parts[1]) not in mine:
            return answer(404, {"error": "no such note"})
        note = mine.pop(int(parts[1]))
        return answer(204) if CLEAN else answer(200, note)


if __name__ == "__main__":
    wsgi_serve.serve(app)
