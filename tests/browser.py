"""A headless Chromium driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), with no package beyond the
browser itself: Debian's ``chromium-headless-shell`` (or ``chromium``), as ``.ci/run`` installs."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

BINARIES = ("chromium-headless-shell", "chromium", "chromium-browser")


def executable() -> str | None:
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


class Browser:
    """One page of a headless browser: ``open(url)``, ``evaluate(js)``, ``click(selector)``,
    ``screenshot(path)``."""

    def __init__(self, profile: Path):
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        command = [
            executable(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
        ]

        def onto_3_and_4():  # the browser reads commands on fd 3 and writes answers on fd 4
            high = os.dup(to_browser_read), os.dup(from_browser_write)  # either may be 3 or 4 now
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            command,
            pass_fds=(3, 4),
            preexec_fn=onto_3_and_4,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.writer, self.reader = os.fdopen(to_browser_write, "wb"), os.fdopen(from_browser_read, "rb")
        self.next_id, self.buffer = 0, b""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session=True)

    def send(self, method: str, session: bool = False, **params) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.writer.write(json.dumps(message).encode() + b"\0")
        self.writer.flush()
        while True:
            while b"\0" not in self.buffer:
                chunk = self.reader.read1(1 << 16)
                if not chunk:
                    raise RuntimeError(f"the browser closed its pipe (waiting for {method})")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]

    def open(self, url: str) -> None:
        self.send("Page.navigate", session=True, url=url)
        for _ in range(200):  # until the page's script has run
            if self.evaluate("document.readyState") == "complete":
                return
        raise RuntimeError(f"{url} did not finish loading")

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the middle of the element."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                session=True,
                type=kind,
                x=box[0],
                y=box[1],
                button="left",
                clickCount=1,
            )

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)[
            "data"
        ]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except RuntimeError:
            pass
        self.process.wait(timeout=30)
