"""Network faults on the way to a raw file: a local HTTP server on 127.0.0.1 refuses, resets, stalls,
truncates, answers with an HTTP error or serves the wrong bytes. Each ends in one error naming the file,
the address and the way out; nothing is left under the final name; a retry once the server behaves
fetches the file cleanly."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time
from pathlib import Path

import pytest

from cgbench import sources
from cgbench.sources import DownloadError, RawFile, SourceIntegrityError, fetch, local_path

CONTENT = bytes(range(256)) * 400  # 100 KiB


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    mode = "ok"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        mode = self.server.mode
        if mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return
        if mode == "http_error":
            self.send_error(503, "Service Unavailable")
            return
        body = CONTENT if mode != "wrong" else CONTENT[::-1]
        self.send_response(200)
        self.send_header("Content-Length", str(len(CONTENT)))
        self.end_headers()
        if mode == "stall":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(3)
            return
        self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)


@pytest.fixture
def server():
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def offline(cgbench_home, tmp_path, monkeypatch):
    """A private cache, no mirror, and a short patience for silent servers."""
    monkeypatch.setenv("CGBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CGBENCH_MIRROR", raising=False)
    monkeypatch.setattr(sources, "DOWNLOAD_TIMEOUT_S", 1.0)


def raw_file(url: str) -> RawFile:
    return RawFile("test_source", "blob.bin", url, hashlib.sha256(CONTENT).hexdigest(), "CC0")


def leftovers(raw: RawFile) -> list[Path]:
    folder = local_path(raw).parent
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("mode, reason", [
    ("reset", "ConnectionResetError"),
    ("http_error", "HTTP 503 Service Unavailable"),
    ("stall", "no answer within 1 s"),
    ("truncate", "the connection closed with 51,200 bytes still to come (a truncated body)"),
])
def test_a_failed_download_is_one_error_that_names_file_address_and_way_out(offline, server, mode, reason):
    server.mode = mode
    raw = raw_file(f"http://127.0.0.1:{server.server_address[1]}/blob.bin")
    with pytest.raises(DownloadError) as failure:
        fetch(raw, progress=False)
    message = str(failure.value)
    assert message.startswith(f"downloading test_source/blob.bin from {raw.url} failed: ") and reason in message
    assert "CGBENCH_MIRROR" in message and "cgbench fetch" in message and "\n" not in message
    assert leftovers(raw) == [], "nothing, not even a partial file, stays behind"
    server.mode = "ok"
    assert fetch(raw, progress=False).read_bytes() == CONTENT, "a retry once the server behaves fetches it"
    assert [p.name for p in leftovers(raw)] == ["blob.bin"]


def test_a_refused_connection_and_an_unknown_host(offline):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="ConnectionRefusedError"):
        fetch(raw_file(f"http://127.0.0.1:{port}/blob.bin"), progress=False)
    with pytest.raises(DownloadError, match="gaierror"):
        fetch(raw_file("http://no-such-host.invalid/blob.bin"), progress=False)


def test_wrong_bytes_never_land_in_the_cache(offline, server):
    server.mode = "wrong"
    raw = raw_file(f"http://127.0.0.1:{server.server_address[1]}/blob.bin")
    with pytest.raises(SourceIntegrityError, match="truncated or altered"):
        fetch(raw, progress=False)
    assert leftovers(raw) == []


def test_an_offline_build_ends_in_one_line(offline, cli_error, monkeypatch):
    """`cgbench build` of a public family on a machine without network and without a mirror."""
    from cgbench.families import family_spec

    spec = type(family_spec("nasbench_macro"))
    dead = [RawFile(r.source_id, r.filename, "http://no-such-host.invalid/" + r.filename, r.sha256, r.licence)
            for r in spec.raw_files]
    monkeypatch.setattr(spec, "raw_files", tuple(dead))
    line = cli_error("build", "nasbench_macro")
    assert line.startswith("cgbench build: error: downloading ") and "no-such-host.invalid" in line
    assert "CGBENCH_MIRROR" in line
