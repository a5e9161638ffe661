"""What the zoo's WSGI targets share: a threaded wsgiref server on a free port of 127.0.0.1 that
prints the port and logs nothing. The server is `wsgiref`'s own, as small services are served."""
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
