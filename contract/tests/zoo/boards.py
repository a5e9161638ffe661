"""Boards and the cards on each board, a nested collection, as a WSGI app under Python's wsgiref
(standard library only), with defects planted on purpose (the contract tester's zoo, see README.md).
A card is found only under its own board: another board's card answers 404, as a server that checks
ownership answers.

  python3 boards.py [--clean]      prints the port it listens on (127.0.0.1, a free port)

Planted defects (without --clean):
  1. getCard answers `"done": "no"` for a card never marked done, where the document says a
     boolean (response_schema_conformance).
  2. updateCard fails with 500 when the body marks the card done (not_a_server_error).
  3. deleteBoard answers 200 with a count of the cards deleted, where the document says 204
     (status_code_conformance).
"""
import json
import re
import sys
import threading

import wsgi_serve

CLEAN = "--clean" in sys.argv
BOARD, CARD = re.compile(r"^b[0-9]{1,9}$"), re.compile(r"^c[0-9]{1,9}$")
boards = {}  # board id -> {"id", "title", "cards": {card id -> card}}
last = [0]
lock = threading.Lock()
ALLOWED = {1: "POST", 2: "GET, DELETE", 3: "POST", 4: "GET, PATCH, DELETE"}


def text(value, longest):
    return isinstance(value, str) and 1 <= len(value) <= longest


def shown(card, read=False):
    done = "no" if read and not CLEAN and not card["done"] else card["done"]
    return {"id": card["id"], "boardId": card["boardId"], "text": card["text"], "done": done}


def app(environ, start_response):
    def answer(status, body=None, headers=()):
        return wsgi_serve.answer(start_response, status, body, headers)

    method, path, raw = wsgi_serve.request(environ)
    parts = path.strip("/").split("/")
    shape = parts[0] == "boards" and (len(parts) in (1, 2) or (len(parts) in (3, 4) and parts[2] == "cards"))
    if not shape:
        return answer(404, {"error": "no such route"})
    if method not in ALLOWED[len(parts)].split(", "):
        return answer(405, {"error": "method not allowed"}, [("Allow", ALLOWED[len(parts)])])
    body = None
    if method in ("POST", "PATCH"):
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return answer(400, {"error": "not JSON"})
        if not isinstance(body, dict):
            return answer(400, {"error": "not an object"})
    with lock:
        if len(parts) == 1:
            if set(body) != {"title"} or not text(body["title"], 40):
                return answer(400, {"error": "invalid board"})
            last[0] += 1
            board = {"id": f"b{last[0]}", "title": body["title"], "cards": {}}
            boards[board["id"]] = board
            return answer(201, {"id": board["id"], "title": board["title"]})
        board = boards.get(parts[1]) if BOARD.match(parts[1]) else None
        if board is None:
            return answer(404, {"error": "no such board"})
        if len(parts) == 2:
            if method == "GET":
                return answer(200, {"id": board["id"], "title": board["title"]})
            del boards[board["id"]]
            return answer(204) if CLEAN else answer(200, {"deleted": len(board["cards"])})
        cards = board["cards"]
        if len(parts) == 3:
            if set(body) != {"text"} or not text(body["text"], 80):
                return answer(400, {"error": "invalid card"})
            last[0] += 1
            card = {"id": f"c{last[0]}", "boardId": board["id"], "text": body["text"], "done": False}
            cards[card["id"]] = card
            return answer(201, shown(card))
        card = cards.get(parts[3]) if CARD.match(parts[3]) else None
        if card is None:
            return answer(404, {"error": "no such card on this board"})
        if method == "GET":
            return answer(200, shown(card, read=True))
        if method == "DELETE":
            del cards[card["id"]]
            return answer(204)
        valid = set(body) <= {"text", "done"} and ("text" not in body or text(body["text"], 80)) \
            and ("done" not in body or isinstance(body["done"], bool))
        if not valid:
            return answer(400, {"error": "invalid change"})
        if body.get("done") and not CLEAN:
            return answer(500, {"error": "KeyError: 'doneAt'"})
        card.update(body)
        return answer(200, shown(card))


if __name__ == "__main__":
    wsgi_serve.serve(app)
