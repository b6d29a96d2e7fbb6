"""A real ``csscore worker`` subprocess, for the bench and the tests.

``WorkerProcess`` starts the worker with its own settings (environment: every inherited
``CSS_*`` and ``KAFKA_BOOTSTRAP_SERVERS`` is replaced), appends its output to a log file,
and can be stopped (SIGTERM), killed (SIGKILL) and measured (peak RSS, CPU seconds).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class WorkerProcess:
    bootstrap: str
    app_id: str
    input_topic: str
    output_topic: str
    dlq_topic: str
    data_dir: Path
    log_path: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    alerts_topic: str = ""  # default: "{output_topic}.alerts"
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    started_wall: float = 0.0  # the first start: a restart keeps it

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("CSS_") and key != "KAFKA_BOOTSTRAP_SERVERS"
        }
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "CSS_APP_ID": self.app_id,
                "CSS_INPUT_TOPIC": self.input_topic,
                "CSS_OUTPUT_TOPIC": self.output_topic,
                "CSS_DLQ_TOPIC": self.dlq_topic,
                "CSS_ALERTS_TOPIC": self.alerts_topic or f"{self.output_topic}.alerts",
                "CSS_DATA_DIR": str(self.data_dir),
                "CSS_METRICS_ADDR": "127.0.0.1:0",
                "CSS_LIVE_EMIT_INTERVAL_SECONDS": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.starts += 1
        if not self.started_wall:
            self.started_wall = time.time()
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                # The deployed default level (INFO). At WARNING, Faust's terminal spinner
                # sets the root logger to DEBUG, and every aiokafka/Faust debug call then
                # builds a LogRecord: ~12 % of the worker's CPU in a py-spy profile.
                [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "INFO"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no offset commit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        return self.process.returncode

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_text()[-chars:]

    def metrics_port(self) -> int | None:
        """The metrics port the last start logged (CSS_METRICS_ADDR port 0)."""
        port = None
        for line in self.log_text().splitlines():
            if "metrics on http://" in line:
                port = int(line.rsplit(":", 1)[1].split("/", 1)[0])
        return port

    def peak_rss_mb(self) -> float | None:
        """``VmHWM`` of the worker process (Linux), in MiB."""
        if self.process is None:
            return None
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the worker process so far (Linux): on a shared
        machine events per CPU second say more about the code than wall time does."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # After the ")" that ends the command name: utime and stime are fields 12 and 13.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
