"""Running the real jobs through `./spark-submit.sh`: a private set of topics and paths, and
the job processes, as a user would run them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from pulse.config import PROJECT_ROOT, PulseConfig, load_config
from pulse.testing import run_available_now


def failure_summary(output: str, tail: int = 3000) -> str:
    """What a failed job said that matters: its error lines and causes, then the end of its log.

    A Spark stack trace runs to hundreds of lines; the tail alone shows only the middle of it,
    never the first exception or its root cause.
    """
    wanted = ("ERROR", "Exception:", "Error:", "Caused by", "Traceback")
    errors = [line for line in output.splitlines() if any(word in line for word in wanted)]
    return "\n".join(["error lines:", *errors[:60], "", "log ends:", output[-tail:]])


@dataclass
class JobStack:
    """A private set of topics and paths for one test, and how to run jobs against it: in the
    test session's `spark` when given (`pulse.testing`), else through `./spark-submit.sh`."""

    env: dict[str, str]
    conf: PulseConfig
    logs: Path
    spark: SparkSession | None = None

    def configure(self, **settings: str) -> None:
        """Change settings (`PULSE_*` variables) for the jobs run from now on, in-process or
        submitted alike."""
        self.env.update(settings)
        self.conf = load_config(environ=self.env)

    def simulate(
        self,
        domain: str,
        *,
        rate: int,
        seconds: int,
        seed: int,
        bad_ratio: float = 0.0,
        via_api: str | None = None,
        start: str | None = None,
    ) -> None:
        """`pulse simulate` into this stack's topics (a real subprocess, like a user's), or
        through the ingest API at `via_api`; `start` (ISO-8601) fixes the events entirely."""
        self.simulate_together(
            {domain: (rate, seed)}, seconds=seconds, bad_ratio=bad_ratio, via_api=via_api,
            start=start,
        )  # fmt: skip

    def simulate_together(
        self,
        runs: Mapping[str, tuple[int, int]],
        *,
        seconds: int,
        bad_ratio: float = 0.0,
        via_api: str | None = None,
        start: str | None = None,
    ) -> None:
        """`simulate` of each domain of `runs` (domain -> (rate, seed)) side by side, so that
        they take `seconds` in all rather than one after the other."""
        api = ["--via-api", "--api-url", via_api] if via_api else []
        api += ["--start", start] if start else []
        options = ["--bad-ratio", str(bad_ratio), "--duration", str(seconds), "--quiet", *api]

        def launch(domain: str, rate: int, seed: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "pulse", "simulate", domain, "--rate", str(rate),
                 "--seed", str(seed), *options],
                cwd=PROJECT_ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip

        processes = {domain: launch(domain, rate, seed) for domain, (rate, seed) in runs.items()}
        for domain, process in processes.items():
            output, _ = process.communicate(timeout=120)
            if process.returncode != 0:
                raise AssertionError(
                    f"pulse simulate {domain} ended with {process.returncode}:\n"
                    f"{output.decode(errors='replace')[-2000:]}"
                )

    def run(self, job: str, timeout: float = 300) -> None:
        """Run job `job` with `--available-now` to completion."""
        if self.spark is not None:
            run_available_now(self.spark, self.conf, job)
            return
        done = subprocess.run(
            [str(PROJECT_ROOT / "spark-submit.sh"), f"jobs/{job}.py", "--available-now"],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        (self.logs / f"{job}.log").write_text(done.stdout + done.stderr)  # kept as an artifact
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{job} failed:\n{failure_summary(output)}"

    def run_together(self, *jobs: str, timeout: float = 300) -> None:
        """Run several jobs with `--available-now` side by side, each to completion."""
        if self.spark is not None:
            run_available_now(self.spark, self.conf, *jobs)
            return
        started = {job: self.launch(job, "--available-now") for job in jobs}
        for job, (process, log) in started.items():
            try:
                code = process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(process)
                raise AssertionError(f"{job} did not finish within {timeout:.0f} s") from None
            output = log.read_text(errors="replace")
            assert code == 0, f"{job} failed:\n{failure_summary(output)}"

    def start(self, job: str) -> subprocess.Popen[bytes]:
        """Start `jobs/<job>.py` with its processing-time trigger, in its own process group."""
        return self.launch(job)[0]

    def launch(self, job: str, *options: str) -> tuple[subprocess.Popen[bytes], Path]:
        """`jobs/<job>.py` started in its own process group, and the file it logs to."""
        path = self.logs / f"{job}-{uuid.uuid4().hex[:6]}.log"
        with path.open("wb") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [str(PROJECT_ROOT / "spark-submit.sh"), f"jobs/{job}.py", *options],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return process, path

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the job's whole process group: driver JVM, Python workers, everything."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
