"""An HTTPS target for the contract tester's TLS tests (Python standard library only).

  python3 tls_target.py CERT KEY [CLIENT_CA]

Serves GET /transfers-status over TLS with CERT/KEY on a free port of 127.0.0.1 and prints the port.
With CLIENT_CA, a client certificate signed by it is asked for (not required, so a request without
one can be refused at the HTTP level): GET answers 200 with one, 401 without. Any other method
answers 405.
"""
import http.server
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status, extra=()):
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        if self.path != "/transfers-status":
            return self._answer(404)
        needs_certificate = len(sys.argv) > 3
        has_certificate = self.connection.getpeercert() is not None and self.connection.getpeercert() != {}
        self._answer(401 if needs_certificate and not has_certificate else 200)

    def _not_allowed(self):
        self._answer(405, [("Allow", "GET")])

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

    def log_message(self, *args):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if len(sys.argv) > 3:
        context.load_verify_locations(sys.argv[3])
        context.verify_mode = ssl.CERT_OPTIONAL
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
