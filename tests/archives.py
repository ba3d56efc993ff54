"""A local HTTP server with range requests, archives in memory and NIfTI bytes, for the download
and dataset tests (offline: everything is served from 127.0.0.1)."""

import gzip
import io
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import nibabel as nib
import numpy as np


class Server:
    """Serves ``files`` (name → bytes) with range requests; ``cut`` (name → bytes) makes the next
    response of that file stop after so many bytes, as a dropped connection does; ``trickle``
    (name → seconds) sends that file one byte at a time, so many seconds apart; ``slow_headers``
    (name → seconds) sends the status line and headers of that file that way."""

    def __init__(self):
        self.files, self.cut, self.requests, self.trickle, self.slow_headers = {}, {}, [], {}, {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if name in server.slow_headers:
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(server.files[name])}\r\n\r\n".encode()
                    if trickled(self.wfile, head, server.slow_headers[name]):
                        self.wfile.write(server.files[name])
                    self.close_connection = True
                    return
                if name not in server.files:
                    self.send_error(404)
                    return
                body, start = server.files[name], 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                limit = server.cut.pop(name, None)
                if name in server.trickle:
                    trickled(self.wfile, body[start:], server.trickle[name])
                else:
                    self.wfile.write(body[start:] if limit is None else body[start : start + limit])
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, name):
        return f"http://127.0.0.1:{self.httpd.server_port}/{name}"


def trickled(stream, data: bytes, seconds: float) -> bool:
    """Write ``data`` one byte every ``seconds``; False where the client gave up."""
    for i in range(len(data)):
        time.sleep(seconds)
        try:
            stream.write(data[i : i + 1])
            stream.flush()
        except OSError:
            return False
    return True


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def nifti_bytes(array: np.ndarray, affine=None) -> bytes:
    """A gzipped NIfTI-1 file of ``array`` (affine: identity 1 mm unless given)."""
    image = nib.Nifti1Image(np.asarray(array), np.eye(4) if affine is None else affine)
    return gzip.compress(image.to_bytes(), mtime=0)
