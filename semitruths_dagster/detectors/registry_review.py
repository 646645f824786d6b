"""What the registry sensor does on a tick, without Dagster: which specs are new or changed, and which of them
load, match their digests and golden outputs (accepted) or not (refused, with the one-line reason).

Each new or changed spec is verified once (its fingerprint, version + file content, is then 'seen'); a
refused one stays refused, with its reason shown on every tick, until its file changes. Verification loads
the detector, so a tick stops starting new verifications after `budget_s` and leaves the rest for the next.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .spec import DetectorSpec
from .verify import VerifyReport, scan_registry, verify_spec

DIGEST_LEN = 16
_DIGEST = re.compile(f"[0-9a-f]{{{DIGEST_LEN}}}")


@dataclass
class RegistryReview:
    accepted: list[str] = field(default_factory=list)  # new or changed specs that passed: request their runs
    removed: list[str] = field(default_factory=list)  # seen before, file gone
    refused: dict[str, str] = field(default_factory=dict)  # spec file -> one-line reason
    pending: list[str] = field(default_factory=list)  # not verified yet (time budget): next tick
    seen: dict[str, str] = field(default_factory=dict)  # name or refused file -> fingerprint (the new cursor)

    def cursor(self) -> str:
        return json.dumps({"seen": self.seen, "refused": self.refused}, sort_keys=True)

    def skip_reason(self, folder: Path) -> str:
        text = f"no new or changed detector specs in {folder}"
        if self.pending:
            text = f"{len(self.pending)} detector specs still to verify ({', '.join(self.pending)})"
        if self.refused:
            text += f"; {len(self.refused)} refused: " + " | ".join(self.refused.values())
        return text


def read_cursor(
    cursor: str | None, folder: Path | None = None, existing: set[str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """(seen, refused) of a sensor cursor. Without one (first tick), the specs of `folder` whose detector
    already has a partition in `existing` count as seen. Older cursors were a plain seen mapping."""
    if not cursor:
        specs = scan_registry(folder)[0] if folder is not None else {}
        return {n: fingerprint(s) for n, s in specs.items() if n in (existing or set())}, {}
    data = json.loads(cursor)
    seen, refused = (data["seen"], data.get("refused", {})) if "seen" in data else (data, {})
    return {k: _compact(v) for k, v in seen.items()}, refused


def fingerprint(spec: DetectorSpec) -> str:
    """A digest of version + spec file content: a change to either re-runs that detector. A digest, not
    the text: the cursor (shown by the UI on every tick) stays one short line per spec."""
    return digest(f"{spec.version}:{Path(spec.source).read_text()}" if spec.source else spec.version)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LEN]


def _compact(value: str) -> str:
    """A cursor entry as a digest: older cursors kept the whole text, whose digest is the same entry."""
    return value if _DIGEST.fullmatch(value) else digest(value)


def review_registry(
    folder: Path,
    seen: dict[str, str],
    refused: dict[str, str],
    budget_s: float = 30.0,
    verify: Callable[[DetectorSpec], VerifyReport] = verify_spec,
) -> RegistryReview:
    specs, invalid = scan_registry(folder)
    review = RegistryReview()
    for path, reason in invalid.items():  # schema errors: refused as long as the file stays as it is
        review.refused[path] = reason
        review.seen[path] = digest(Path(path).read_text(errors="replace") if Path(path).is_file() else "")
    started = time.monotonic()
    for name, spec in sorted(specs.items()):
        fp = fingerprint(spec)
        if seen.get(name) == fp:
            review.seen[name] = fp
            if spec.source in refused:
                review.refused[spec.source] = refused[spec.source]
            continue
        if time.monotonic() - started > budget_s:
            review.pending.append(name)
            if name in seen:
                review.seen[name] = seen[name]
            continue
        report = verify(spec)
        review.seen[name] = fp
        if report.ok:
            review.accepted.append(name)
        else:
            review.refused[str(spec.source)] = f"{name}: {report.reason()}"
    refused_stems = {Path(p).stem for p in review.refused}
    review.removed = sorted(n for n in seen if n not in specs and n not in refused_stems
                            and not Path(n).suffix)  # refused-file keys are paths, not names
    return review
