"""A real SMTP listener for the reset-mail tests: speaks enough SMTP for smtplib, slowly.

It answers on 127.0.0.1 (a free port), waits ``delay`` seconds before its greeting, like
a distant or overloaded mail server, and keeps every message it accepted.
"""

from __future__ import annotations

import socketserver
import threading
import time
from email import message_from_bytes
from email.message import Message


class _Handler(socketserver.StreamRequestHandler):
    """One SMTP conversation: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    server: _Server

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode("ascii"))
        self.wfile.flush()

    def _read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)

    def handle(self) -> None:
        time.sleep(self.server.delay)
        self._reply("220 slow-smtp ready")
        while line := self.rfile.readline():
            verb = line.decode("ascii", "replace").strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 slow-smtp")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with <CRLF>.<CRLF>")
                self.server.store(self._read_data())
                self._reply("250 OK queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay
        self.messages: list[Message] = []
        self.changed = threading.Condition()

    def store(self, raw: bytes) -> None:
        with self.changed:
            self.messages.append(message_from_bytes(raw))
            self.changed.notify_all()


class SlowSMTPServer:
    """Context manager: ``with SlowSMTPServer(delay=0.5) as smtp: smtp.port``."""

    def __init__(self, delay: float = 0.0) -> None:
        self._server = _Server(delay)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def messages(self) -> list[Message]:
        with self._server.changed:
            return list(self._server.messages)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        """Wait until ``count`` messages arrived (or fail the test after ``timeout``)."""
        with self._server.changed:
            arrived = self._server.changed.wait_for(
                lambda: len(self._server.messages) >= count, timeout)
            assert arrived, f"{len(self._server.messages)} of {count} mails arrived"
            return list(self._server.messages)

    def settings(self, **extra: object) -> dict[str, object]:
        """LTS settings that send mail here (plain SMTP, no STARTTLS)."""
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port,
                "smtp_from": "lts@example.org", "smtp_starttls": False,
                "public_url": "https://lts.example.org", **extra}

    def __enter__(self) -> SlowSMTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
