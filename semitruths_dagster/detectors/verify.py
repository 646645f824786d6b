"""Checking that a detector is the one its spec promises: weight digests, golden outputs, a tolerant registry.

Digests: `sha256.<role>` is the sha256 of the role's local weight file; for a folder (an open_clip or hub
layout) it is the sha256 of the lines `<relative path>  <file sha256>` of every file under it, sorted (what
`weights_digest` computes and `semitruths detector convert` writes). Golden outputs: `golden` lists images
and the P(fake) the authors' code gives them; `golden_results` scores them. `verify_spec` does both after
loading the detector and returns a report; `scan_registry` reads a registry folder keeping the valid specs
and the reason each invalid one was refused, so one bad file never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from .checkpoints import CheckpointError
from .spec import DetectorSpec, SpecError


class GoldenError(CheckpointError):
    """A golden image is missing or scores outside its tolerance."""


@dataclass(frozen=True)
class GoldenResult:
    image: str
    expected: float
    tolerance: float
    actual: float

    @property
    def passed(self) -> bool:
        return abs(self.actual - self.expected) <= self.tolerance

    def line(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        return (f"{verdict} golden {self.image}: P(fake) {self.actual:.4f}, expected {self.expected:.4f} "
                f"+- {self.tolerance:g} (off by {abs(self.actual - self.expected):.4f})")


def golden_path(spec: DetectorSpec, image: str) -> Path:
    p = Path(image)
    return p if p.is_absolute() else Path(spec.base_dir or ".") / p


def golden_results(detector) -> list[GoldenResult]:
    """Score the spec's golden images; a missing or unreadable one is a GoldenError naming spec and file."""
    spec = detector.spec
    images = []
    for i, g in enumerate(spec.golden):
        path = golden_path(spec, g.image)
        try:
            images.append(Image.open(path).convert("RGB"))
        except OSError as exc:
            raise GoldenError(f"detector '{spec.name}' ({spec.source or 'in-memory spec'}) golden[{i}].image: "
                              f"{path} cannot be read (rule golden_image_exists): {exc}") from exc
    if not images:
        return []
    scores = detector.score(images, batch_size=1)
    return [GoldenResult(g.image, g.p_fake, g.tolerance, float(s)) for g, s in zip(spec.golden, scores, strict=True)]


@dataclass
class VerifyReport:
    name: str
    source: str | None
    ok: bool
    lines: list[str] = field(default_factory=list)

    def reason(self) -> str:
        """One line: why the spec was refused (or 'ok')."""
        return "ok" if self.ok else "; ".join(line for line in self.lines if not line.startswith("pass"))


def verify_spec(spec: DetectorSpec, device: str | torch.device = "cpu") -> VerifyReport:
    """Load the detector (digests checked first), run its golden images; never raises for bad weights."""
    from .registry import build_detector

    report = VerifyReport(spec.name, spec.source, ok=True)
    try:
        detector = build_detector(spec, device=device)  # checks the digests first
        report.lines += [f"pass sha256.{role} {digest}" for role, digest in spec.sha256.items()]
        report.lines.append(f"pass loaded {spec.plugin} weights ({', '.join(sorted(spec.weights))})")
        results = golden_results(detector)
    except (CheckpointError, SpecError) as exc:
        report.ok = False
        report.lines.append(f"FAIL {exc}")
        return report
    report.lines += [r.line() for r in results]
    failed = [r for r in results if not r.passed]
    if failed:
        report.ok = False
        report.lines.append(f"FAIL detector '{spec.name}' ({spec.source}): {len(failed)} of {len(results)} golden "
                            "outputs outside tolerance (rule golden)")
    elif not results:
        report.lines.append("pass no golden images in the spec (nothing to compare against)")
    return report


def scan_registry(folder: str | Path) -> tuple[dict[str, DetectorSpec], dict[str, str]]:
    """Valid specs by name, and refused spec files -> one-line reason (invalid YAML or schema, duplicate name)."""
    from .registry import load_spec  # late: the registry imports the plugins, which import this package

    folder = Path(folder)
    specs: dict[str, DetectorSpec] = {}
    refused: dict[str, str] = {}
    if not folder.is_dir():
        return specs, refused
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            spec = load_spec(path)
        except SpecError as exc:
            refused[str(path)] = str(exc)
            continue
        if spec.name in specs:
            refused[str(path)] = f"{path}: key 'name': {spec.name!r} is also defined in {specs[spec.name].source}"
            continue
        specs[spec.name] = spec
    return specs, refused
