"""Netra Apex's pytest plugin: one JSON line per test result, written to stderr as it happens.

Loaded with `-p apex_pytest_plugin` from a copy Netra Apex writes into its data dir; the
project's own files are never touched. Each line starts with the marker "\x1eAPEX " so the
runner can pick it out of the console stream.
"""

import json
import os

MARK = "\x1eAPEX "
LIMIT = 16000


def _emit(obj):
    try:
        os.write(2, (MARK + json.dumps(obj) + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def pytest_collection_finish(session):
    _emit({"kind": "collected", "count": len(session.items)})


def pytest_collectreport(report):
    if report.failed:
        _emit(
            {
                "kind": "test",
                "name": report.nodeid or "collection",
                "status": "errored",
                "phase": "collect",
                "duration": 0.0,
                "message": _message(report),
                "output": str(report.longrepr)[-LIMIT:],
                "file": report.fspath if hasattr(report, "fspath") else None,
                "line": None,
            }
        )


def _message(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return crash.message
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])
    text = str(report.longrepr or "")
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else ""


def _location(report):
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "path", None):
        path = str(crash.path)
        try:
            path = os.path.relpath(path)
        except ValueError:
            pass
        return path, crash.lineno
    file, line, _ = report.location
    return file, (line + 1 if isinstance(line, int) else None)


_durations = {}


def pytest_runtest_logreport(report):
    nodeid = report.nodeid
    _durations[nodeid] = _durations.get(nodeid, 0.0) + (report.duration or 0.0)
    status = None
    if report.when == "call":
        if report.passed:
            status = "passed"
        elif report.failed:
            status = "failed"
        elif report.skipped:
            status = "skipped"
    elif report.failed:
        status = "errored"
    elif report.skipped and report.when == "setup":
        status = "skipped"
    if status is None:
        return
    out = ""
    for title, text in report.sections:
        out += "----- " + title + " -----\n" + text
    message = ""
    file, line = report.location[0], (report.location[1] + 1 if isinstance(report.location[1], int) else None)
    if status in ("failed", "errored"):
        message = _message(report)
        file, line = _location(report)
        out = str(report.longrepr)[-LIMIT:] + ("\n" + out if out else "")
    elif status == "skipped":
        if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
            message = str(report.longrepr[2])
    _emit(
        {
            "kind": "test",
            "name": nodeid,
            "status": status,
            "phase": report.when,
            "duration": _durations.get(nodeid, 0.0),
            "message": message,
            "output": out[-LIMIT:],
            "file": file,
            "line": line,
        }
    )
