"""User accounts in Flask, as a quick internal service is written; with defects planted on purpose
(the contract tester's zoo, see README.md).

  python accounts.py [--clean]      prints the port it listens on (127.0.0.1, a free port)

Planted defects (without --clean):
  1. getAccount answers the account with its password, which the document marks writeOnly
     (response_schema_conformance).
  2. createAccount checks that the username is free, then inserts it a moment later: the same
     new account sent several times at once is created more than once (concurrent_creation).
  3. updateAccount with `"bio": null` for an existing account fails (500: not_a_server_error,
     and status_code_conformance for the undocumented 500).
  4. A body that is not JSON gets Flask's own 400 page, which the document does not have
     (status_code_conformance on createAccount and updateAccount).
"""
import logging
import re
import socket
import sys
import threading
import time

from flask import Flask, jsonify, request

CLEAN = "--clean" in sys.argv
USERNAME = re.compile(r"^[a-z][a-z0-9]{2,15}$")
app = Flask(__name__)
accounts = {}
lock = threading.Lock()
ids = iter(range(1, 1 << 62))


def shown(account):
    if CLEAN:
        return {k: v for k, v in account.items() if k != "password"}
    return account


def body():
    if CLEAN:
        return request.get_json(silent=True)
    return request.get_json()  # Flask answers 400 itself when the body is not JSON


def valid_bio(value):
    return value is None or (isinstance(value, str) and len(value) <= 80)


@app.post("/accounts")
def create():
    data = body()
    if (
        not isinstance(data, dict)
        or not set(data) <= {"username", "password", "bio"}
        or not {"username", "password"} <= set(data)
        or not isinstance(data["username"], str) or not USERNAME.match(data["username"])
        or not isinstance(data["password"], str) or not 8 <= len(data["password"]) <= 64
        or not valid_bio(data.get("bio"))
    ):
        return jsonify(error="invalid account"), 422
    if CLEAN:
        lock.acquire()
    try:
        if any(a["username"] == data["username"] for a in list(accounts.values())):
            return jsonify(error="the username is taken"), 409
        if not CLEAN:
            time.sleep(0.05)  # a database round trip between the check and the insert
        account = {"id": next(ids), "username": data["username"], "password": data["password"], "bio": data.get("bio")}
        accounts[account["id"]] = account
    finally:
        if CLEAN:
            lock.release()
    return jsonify(shown(account)), 201


@app.get("/accounts/<int:account_id>")
def read(account_id):
    account = accounts.get(account_id)
    return (jsonify(shown(account)), 200) if account else (jsonify(error="no such account"), 404)


@app.patch("/accounts/<int:account_id>")
def update(account_id):
    data = body()
    account = accounts.get(account_id)
    if account is None:
        return jsonify(error="no such account"), 404
    if not isinstance(data, dict) or set(data) != {"bio"} or not valid_bio(data["bio"]):
        return jsonify(error="invalid change"), 422
    if not CLEAN:
        data["bio"].strip()  # AttributeError on None: Flask answers 500
    account["bio"] = data["bio"]
    return jsonify(shown(account)), 200


def main():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    print(port, flush=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.run(host="127.0.0.1", port=port, threaded=True)


if __name__ == "__main__":
    main()
