"""What the zoo's WSGI targets share: a threaded wsgiref server on a free port of 127.0.0.1 that
prints the port and logs nothing (`wsgiref`'s own, as small services are served), and their
requests read and answers written as JSON."""
import json
from http import HTTPStatus
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve(app):
    server = make_server("127.0.0.1", 0, app, server_class=Server, handler_class=Quiet)
    print(server.server_port, flush=True)
    server.serve_forever()


def request(environ):
    """The method, the path without a trailing slash, and the body's bytes."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    return environ["REQUEST_METHOD"], environ["PATH_INFO"].rstrip("/"), raw


def answer(start_response, status, body=None, headers=()):
    """A response of `status`, with `body` as JSON (none when it is None) and `headers`."""
    data = b"" if body is None else json.dumps(body).encode()
    extra = [("Content-Type", "application/json")] if body is not None else []
    start_response(f"{status} {HTTPStatus(status).phrase}", extra + list(headers) + [("Content-Length", str(len(data)))])
    return [data]
