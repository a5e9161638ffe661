"""Warehouse stock over sqlite3, in Python's standard library only, as small internal tools are
written; with defects planted on purpose (the contract tester's zoo, see README.md).

  python3 inventory.py [--clean]      prints the port it listens on (127.0.0.1, a free port)

The API key is `zoo-key`. Planted defects (without --clean):
  1. searchParts builds its SQL by string formatting: a quote in `q` answers 500
     (not_a_server_error, reported as a likely injection; and the undocumented 500 fails
     status_code_conformance).
  2. stats answers without checking the key (ignored_auth).
  3. A body that is not JSON answers 400, which addPart does not document
     (status_code_conformance).
  4. A 405 says `Allow: GET, POST, PUT` on /api/parts, which documents GET and POST
     (allow_header_conformance).
  5. addPart refuses a stock written `12.0`, which JSON Schema counts as an integer
     (positive_data_acceptance).
"""
import http.server
import json
import re
import sqlite3
import sys
import threading

CLEAN = "--clean" in sys.argv
KEY = "zoo-key"
CODE = re.compile(r"^[A-Z]{2}-[0-9]{3}$")
db = sqlite3.connect(":memory:", check_same_thread=False)
db.execute("CREATE TABLE parts (code TEXT PRIMARY KEY, name TEXT NOT NULL, stock INTEGER NOT NULL)")
lock = threading.Lock()


def integral(value):
    """An integer by JSON Schema's reading (12.0 included); the planted target takes only ints."""
    if CLEAN:
        return type(value) in (int, float) and not isinstance(value, bool) and float(value).is_integer()
    return type(value) is int


def part(row):
    return {"code": row[0], "name": row[1], "stock": row[2]}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def consume(self):
        """Reads the request's body, if any: on a kept-alive connection, unread bytes would be
        taken for the next request."""
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def route(self):
        path = self.path.split("?", 1)[0]
        if path == "/api/parts":
            return "parts", None
        if path == "/api/stats":
            return "stats", None
        if path.startswith("/api/parts/") and path.count("/") == 3:
            return "part", path.rsplit("/", 1)[1]
        return None, None

    def authorised(self):
        return self.headers.get("X-Api-Key") == KEY

    def not_allowed(self):
        self.consume()
        kind, _ = self.route()
        if kind is None:
            return self.answer(404, {"error": "no such route"})
        allowed = {"parts": "GET, POST" if CLEAN else "GET, POST, PUT", "part": "GET", "stats": "GET"}[kind]
        self.answer(405, {"error": "method not allowed"}, [("Allow", allowed)])

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_QUERY = not_allowed

    def do_GET(self):
        self.consume()
        kind, code = self.route()
        if kind is None:
            return self.answer(404, {"error": "no such route"})
        if kind == "stats" and not CLEAN:
            pass
        elif not self.authorised():
            return self.answer(401, {"error": "no key"})
        with lock:
            if kind == "stats":
                (count,) = db.execute("SELECT COUNT(*) FROM parts").fetchone()
                return self.answer(200, {"parts": count})
            if kind == "part":
                from urllib.parse import unquote
                code = unquote(code)
                row = db.execute("SELECT code, name, stock FROM parts WHERE code = ?", (code,)).fetchone()
                return self.answer(200, part(row)) if row else self.answer(404, {"error": "no such part"})
            from urllib.parse import parse_qs, urlsplit
            q = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
            if len(q) > 40:
                return self.answer(400, {"error": "the search text is too long"})
            try:
                if CLEAN:
                    rows = db.execute("SELECT code, name, stock FROM parts WHERE name LIKE ?", (f"%{q}%",)).fetchall()
                else:
                    rows = db.execute(f"SELECT code, name, stock FROM parts WHERE name LIKE '%{q}%'").fetchall()
            except sqlite3.Error as error:
                return self.answer(500, {"error": str(error)})
            return self.answer(200, [part(r) for r in rows])

    def do_POST(self):
        kind, _ = self.route()
        if kind != "parts":
            return self.not_allowed()
        raw = self.consume()
        if not self.authorised():
            return self.answer(401, {"error": "no key"})
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self.answer(422 if CLEAN else 400, {"error": "not JSON"})
        valid = (
            isinstance(body, dict)
            and set(body) == {"code", "name", "stock"}
            and isinstance(body["code"], str) and CODE.match(body["code"])
            and isinstance(body["name"], str) and 1 <= len(body["name"]) <= 40
            and integral(body["stock"]) and 0 <= body["stock"] <= 100000
        )
        if not valid:
            return self.answer(422, {"error": "invalid part"})
        with lock:
            body["stock"] = int(body["stock"])
            db.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?)", (body["code"], body["name"], body["stock"]))
        self.answer(201, body)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
