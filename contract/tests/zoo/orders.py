"""Purchase orders as a bare ASGI app (no framework) under uvicorn, with defects planted on purpose
(the contract tester's zoo, see README.md).

  python orders.py [--clean]      prints the port it listens on (127.0.0.1, a free port)

The token is `zoo-token`. Planted defects (without --clean):
  1. getReceipt checks that a bearer token is there, not which: any token is accepted
     (ignored_auth).
  2. getOrder answers its JSON as text/plain (content_type_conformance).
  3. placeOrder answers 201 without the Location header the document requires
     (response_headers_conformance).
  4. placeOrder stores quantities in a 32-bit column: a valid quantity above 2147483647 fails with
     500 (not_a_server_error, and status_code_conformance for the undocumented 500).
  5. placeOrder refuses a quantity written `3.0`, which JSON Schema counts as an integer
     (positive_data_acceptance).
"""
import json
import socket
import sys

import uvicorn

CLEAN = "--clean" in sys.argv
TOKEN = "zoo-token"
orders = {}


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def answer(send, status, body=None, content_type="application/json", headers=()):
    data = b"" if body is None else json.dumps(body).encode()
    raw = [(k.encode(), v.encode()) for k, v in headers]
    if body is not None:
        raw.append((b"content-type", content_type.encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def integral(value):
    """An integer by JSON Schema's reading (3.0 included); the planted target takes only ints."""
    if CLEAN:
        return type(value) in (int, float) and float(value).is_integer()
    return type(value) is int


def token(scope):
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            return scheme.lower(), credential
    return None, None


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = await read_body(receive)
    method, parts = scope["method"], scope["path"].strip("/").split("/")
    routes = {("orders",): "POST", ("orders", "*"): "GET", ("receipts", "*"): "GET"}
    shape = tuple(p if i == 0 else "*" for i, p in enumerate(parts))
    if shape not in routes:
        return await answer(send, 404, {"error": "no such route"})
    if method != routes[shape]:
        return await answer(send, 405, {"error": "method not allowed"}, headers=[("allow", routes[shape])])
    scheme, credential = token(scope)
    lax = shape == ("receipts", "*") and not CLEAN
    if scheme != "bearer" or (credential != TOKEN and not lax) or (lax and not credential):
        return await answer(send, 401, {"error": "no valid token"})
    if shape == ("orders",):
        try:
            order = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return await answer(send, 422, {"error": "not JSON"})
        valid = (
            isinstance(order, dict)
            and set(order) == {"item", "quantity"}
            and isinstance(order["item"], str) and 1 <= len(order["item"]) <= 30
            and integral(order["quantity"]) and 1 <= order["quantity"] <= 10**12
        )
        if not valid:
            return await answer(send, 422, {"error": "invalid order"})
        order["quantity"] = int(order["quantity"])
        if not CLEAN and order["quantity"] > 2147483647:
            return await answer(send, 500, {"error": "integer out of range"})
        order_id = len(orders) + 1
        orders[order_id] = {"id": order_id, **order}
        headers = [("location", f"/orders/{order_id}")] if CLEAN else []
        return await answer(send, 201, orders[order_id], headers=headers)
    if not parts[1].isdigit() or int(parts[1]) not in orders:
        return await answer(send, 404, {"error": "no such order"})
    order = orders[int(parts[1])]
    if shape == ("orders", "*"):
        return await answer(send, 200, order, "application/json" if CLEAN else "text/plain")
    return await answer(send, 200, {"orderId": order["id"], "total": order["quantity"] * 100})


def main():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    print(port, flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
