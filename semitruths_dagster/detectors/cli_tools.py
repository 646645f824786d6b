"""The `semitruths detector verify | convert | fit-probe` commands (argument parsing lives in cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .registry import add_spec
from .verify import scan_registry, verify_spec


def _find(registry: Path, name: str):
    specs, refused = scan_registry(registry)
    if name in specs:
        return specs[name], None
    why = [r for p, r in refused.items() if Path(p).stem == name]
    return None, (why[0] if why else f"no detector '{name}' in {registry} (known: {', '.join(sorted(specs)) or 'none'})")


def run(args: argparse.Namespace, config: Any, params: Any, registry: Path) -> int:
    """Run one of the commands; the exit status (0 = pass)."""
    if args.action == "fit-probe":
        from .probe_fit import fit_probe

        if not args.dataset:
            print("semitruths detector fit-probe: --dataset is required (the split is drawn from one dataset)")
            return 2
        data = fit_probe(args.spec, args.features, args.backbone, config.storage_root, args.dataset, args.fraction,
                         args.seed, params.weights_dir(config.path.parent) / "probes", args.c)
        path = add_spec(registry, data, overwrite=args.overwrite)
        split = data["options"]["split"]
        print(f"fitted on {split['n_images']} images ({split['n_fake']} fake) of {args.dataset}; registered {path}")
        return 0
    spec, problem = _find(registry, args.spec)
    if spec is None:
        print(f"FAIL {problem}")
        return 2
    if args.action == "verify":
        report = verify_spec(spec, device=args.device)
        for line in report.lines:
            print(line)
        print(f"{'PASS' if report.ok else 'FAIL'} detector '{spec.name}' ({spec.source})")
        return 0 if report.ok else 1
    from .convert import convert_spec

    out = Path(args.out) if args.out else params.weights_dir(config.path.parent) / "converted"
    path, _ = convert_spec(spec, out, args.name)
    print(f"wrote {path} (safetensors weights with sha256 digests; same scores as '{spec.name}')")
    print(f"register it with: semitruths detector add {path}")
    return 0
