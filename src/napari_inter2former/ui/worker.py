"""One long-lived inference thread with a "latest request wins" slot.

The GUI thread submits jobs and never waits. A job submitted while another
is pending replaces it (the replaced one is reported as dropped); a running
job is interrupted between tile encodings when a newer supersedable job
arrives, so the thread always moves on to the newest state. Results come
back through Qt signals, which Qt delivers on the GUI thread.
"""

from __future__ import annotations

import threading
import traceback

from qtpy.QtCore import QThread, Signal

from .engine import Cancelled, Job


class InferenceWorker(QThread):
    finished_job = Signal(object, object)  # job, result
    failed_job = Signal(object, object, str)  # job, exception, traceback text
    dropped_job = Signal(object)  # job replaced before it started
    progress = Signal(object, int, int)  # job, done, total
    partial = Signal(object, object)  # job, payload (carry: one plane's result)
    busy = Signal(bool)

    def __init__(self, run_job, parent=None):
        """run_job(job, progress, partial) runs on this thread (e.g. Engine.run)."""
        super().__init__(parent)
        self._run_job = run_job
        self._cond = threading.Condition()
        self._pending: Job | None = None
        self._running: Job | None = None
        self._stopping = False

    # ----- GUI thread
    def submit(self, job: Job) -> None:
        with self._cond:
            dropped, self._pending = self._pending, job
            running = self._running
            if running is not None and running.supersedable and job.supersedable:
                running.cancel.set()
            self._cond.notify()
        if dropped is not None:
            self.dropped_job.emit(dropped)
        if not self.isRunning() and not self._stopping:
            self.start()

    def cancel_running(self) -> None:
        with self._cond:
            if self._running is not None:
                self._running.cancel.set()

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and self._running is None

    def stop(self, timeout_ms: int = 10000) -> None:
        """Finish the running job's current step and end the thread."""
        with self._cond:
            self._stopping = True
            if self._running is not None:
                self._running.cancel.set()
            self._pending = None
            self._cond.notify()
        if self.isRunning():
            self.wait(timeout_ms)

    # ----- worker thread
    def run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job, self._pending = self._pending, None
                self._running = job
            self.busy.emit(True)

            def progress(done: int, total: int, job=job) -> None:
                if job.cancel.is_set():
                    raise Cancelled("replaced by a newer request")
                self.progress.emit(job, int(done), int(total))

            def partial(*payload, job=job) -> None:
                self.partial.emit(job, payload)

            try:
                result = self._run_job(job, progress, partial)
            except Cancelled as exc:
                self.failed_job.emit(job, exc, "")
            except Exception as exc:  # reported to the user by the widget; the thread lives on
                self.failed_job.emit(job, exc, traceback.format_exc())
            else:
                self.finished_job.emit(job, result)
            with self._cond:
                self._running = None
                more = self._pending is not None
            if not more:
                self.busy.emit(False)
