"""Any ONNX model through onnxruntime, its preprocessing and output declared in the spec.

Weights (`weights.model`): a local `.onnx` file, or `options.filename` inside a local folder or hub repo.
Runs on onnxruntime's CPU provider, or its CUDA provider when the device is CUDA and that provider is
installed (otherwise on the CPU, and rows say so). The spec declares what the model expects:

- `resize` (shorter side, or [h, w]), `crop` (centre crop side; moved by the mask-aware crop),
  `interpolation`: the usual `Preprocessing` steps;
- `value_range` '0-1' or '0-255' (pixel scale before `mean`/`std`, which are in the same units and in
  the model's channel order), `channels` 'RGB' or 'BGR', `layout` 'NCHW' or 'NHWC';
- `output`: 'logit' (one value, sigmoid is P(fake)), 'probability' (one value, P(fake) itself),
  'softmax' (class logits; softmax picks `fake_index`) or 'probabilities' (class probabilities already).

At load the model's input (rank, channels, fixed height/width, element type) is checked against that
preprocessing: a mismatch is a one-line SpecError naming the spec. The model's own input type (float32
or float16) is the precision it scores in, whatever the run's dtype setting: rows record that type. A
model with a fixed batch size gets its images in chunks of that size. Random stand-in: a small CNN
exported with torch.onnx.export (the `onnx` package writes the file).

Generic plugin: it reproduces no published detector, so there are no authors' files to name; the
user's spec and model define what runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..base import Detector
from ..checkpoints import CheckpointError
from ..preprocessing import INTERPOLATIONS, Preprocessing
from ..runtime import dtype_name
from ..spec import DetectorSpec, SpecError

OUTPUTS = ("logit", "probability", "softmax", "probabilities")
CHOICES = {"value_range": ("0-1", "0-255"), "channels": ("RGB", "BGR"), "layout": ("NCHW", "NHWC"),
           "output": OUTPUTS, "interpolation": tuple(INTERPOLATIONS)}
ELEMENT_TYPES = {"tensor(float)": (np.float32, torch.float32), "tensor(float16)": (np.float16, torch.float16)}
TINY_SIDE = 32


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class OnnxModel(Detector):
    PLUGIN = "onnx"
    PAPER_PROTOCOL = False  # the declared input contract is the model's, not replaceable
    WEIGHT_ROLES = ("model",)
    OPTIONS = {
        "resize": ((int, list), None, "shorter side after resizing, or [height, width]; none: no resize"),
        "crop": ((int,), None, "centre crop side; none: no crop"),
        "interpolation": ((str,), "bilinear", f"resize filter: {', '.join(INTERPOLATIONS)}"),
        "mean": ((list,), [0.0, 0.0, 0.0], "per-channel mean, in value_range units and the model's channel order"),
        "std": ((list,), [1.0, 1.0, 1.0], "per-channel std, in value_range units and the model's channel order"),
        "value_range": ((str,), "0-1", "pixel scale before mean/std: '0-1' or '0-255'"),
        "channels": ((str,), "RGB", "channel order the model expects: RGB or BGR"),
        "layout": ((str,), "NCHW", "tensor layout: NCHW or NHWC"),
        "output": ((str,), "logit", f"what the output is: {', '.join(OUTPUTS)}"),
        "fake_index": ((int,), 1, "softmax / probabilities: index of the fake class"),
        "input_name": ((str,), None, "the model input to feed (needed when it has several)"),
        "output_name": ((str,), None, "the model output to read (default: the first)"),
        "filename": ((str,), "model.onnx", "the file inside a local folder or hub repo"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        opts = spec.options
        for key, allowed in CHOICES.items():
            if key in opts and opts[key] not in allowed:
                raise SpecError(spec.source, f"options.{key}", f"{opts[key]!r} is not one of {list(allowed)}")
        for key in ("mean", "std"):
            value = opts.get(key)
            if value is not None and (len(value) != 3 or not all(isinstance(v, (int, float)) for v in value)
                                      or (key == "std" and any(v == 0 for v in value))):
                raise SpecError(spec.source, f"options.{key}", f"expected 3 numbers{' (non-zero)' * (key == 'std')}, "
                                f"got {value!r}")
        resize = opts.get("resize")
        if isinstance(resize, list) and (len(resize) != 2 or not all(_is_int(v) and v > 0 for v in resize)):
            raise SpecError(spec.source, "options.resize", f"expected an integer or [height, width], got {resize!r}")
        if opts.get("fake_index") is not None and opts["fake_index"] < 0:
            raise SpecError(spec.source, "options.fake_index", f"must be >= 0, got {opts['fake_index']}")

    def build_preprocessing(self) -> Preprocessing:
        o = self.options
        scale = 255.0 if o["value_range"] == "0-255" else 1.0
        order = slice(None, None, -1) if o["channels"] == "BGR" else slice(None)  # mean/std as RGB
        resize = tuple(o["resize"]) if isinstance(o["resize"], list) else o["resize"]
        return Preprocessing(resize=resize, crop=o["crop"], interpolation=o["interpolation"],
                             mean=tuple(float(m) / scale for m in o["mean"][order]),
                             std=tuple(float(s) / scale for s in o["std"][order]))

    def fail(self, problem: str) -> SpecError:
        return SpecError(self.spec.source, "options", f"{problem} (model {self.model_path})")

    def load_model(self) -> object:
        import onnxruntime as ort

        kind, ref = self.weight_ref("model")
        self.model_path = self.weight_file("model", self.options["filename"]) if kind == "hub" or Path(ref).is_dir() \
            else Path(ref)
        if not self.model_path.is_file():
            raise CheckpointError(f"{self.what('model')}: file not found: {self.model_path}")
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        else:
            self.device = torch.device("cpu")  # where it really runs, for the rows' provenance
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # the process's thread budget, as torch's
        try:
            session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own error types for unreadable or invalid graphs
            raise CheckpointError(f"{self.what('model')}: {self.model_path} is not a loadable ONNX model: "
                                  f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        self.check_io(session)
        return session

    def check_io(self, session: object) -> None:
        """The model's input and output against the spec's preprocessing and output kind."""
        inputs = {i.name: i for i in session.get_inputs()}
        name = self.options["input_name"] or (next(iter(inputs)) if len(inputs) == 1 else None)
        if name not in inputs:
            raise self.fail(f"the model has inputs {sorted(inputs)}; set input_name to one of them")
        info = inputs[name]
        if info.type not in ELEMENT_TYPES:
            raise self.fail(f"input '{name}' is {info.type}; only float32 or float16 image inputs are supported")
        self.input_name, (self.np_dtype, self.dtype) = name, ELEMENT_TYPES[info.type]
        self.precision = dtype_name(self.dtype)  # rows and cache keys name the precision it really runs in
        p = self.preprocessing
        side = (p.crop, p.crop) if p.crop else tuple(p.resize) if isinstance(p.resize, tuple) else (None, None)
        nchw = self.options["layout"] == "NCHW"
        expected = [None, 3, *side] if nchw else [None, *side, 3]
        shape = list(info.shape)
        wrong = len(shape) != 4 or any(_is_int(m) and e is not None and m != e for m, e in zip(shape, expected, strict=False))
        unfixed = any(_is_int(m) and e is None for m, e in zip(shape[1:], expected[1:], strict=False))
        if wrong or unfixed:
            said = f"{self.options['layout']} [N, {'3, ' if nchw else ''}{side[0] or 'H'}, {side[1] or 'W'}" \
                   f"{'' if nchw else ', 3'}]"
            fix = "; set crop or resize [h, w] to its size" if unfixed and not wrong else ""
            raise self.fail(f"the model's input '{name}' has shape {shape}, the spec's preprocessing gives {said}{fix}")
        self.fixed_batch = shape[0] if _is_int(shape[0]) and shape[0] > 0 else None
        outputs = {o.name: o for o in session.get_outputs()}
        out = self.options["output_name"] or next(iter(outputs))
        if out not in outputs:
            raise self.fail(f"no output '{out}' (outputs: {sorted(outputs)})")
        self.output_name, width = out, outputs[out].shape[-1] if len(outputs[out].shape) > 1 else 1
        single = self.options["output"] in ("logit", "probability")
        if _is_int(width) and (width != 1 if single else width <= self.options["fake_index"]):
            need = "one value per image" if single else f"more than fake_index={self.options['fake_index']} classes"
            raise self.fail(f"output '{out}' has shape {outputs[out].shape}; output {self.options['output']} needs {need}")

    def forward(self, pixels: torch.Tensor, texts: Sequence[str] | None = None) -> torch.Tensor:
        x = pixels.detach().float().cpu().numpy()  # N, 3, H, W in RGB, normalised
        if self.options["channels"] == "BGR":
            x = x[:, ::-1]
        if self.options["layout"] == "NHWC":
            x = x.transpose(0, 2, 3, 1)
        x = np.ascontiguousarray(x, dtype=self.np_dtype)
        step = self.fixed_batch or len(x)
        parts = []
        for start in range(0, len(x), step):
            chunk = x[start : start + step]
            n = len(chunk)
            if n < step:  # a fixed batch size: pad with copies of the last image, drop their outputs
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - n, axis=0)])
            out = self.model.run([self.output_name], {self.input_name: chunk})[0]
            parts.append(np.asarray(out, dtype=np.float32).reshape(step, -1)[:n])
        return torch.from_numpy(np.concatenate(parts))

    def to_probability(self, outputs: torch.Tensor) -> torch.Tensor:
        kind, idx = self.options["output"], self.options["fake_index"]
        if kind == "logit":
            return torch.sigmoid(outputs[:, 0])
        if kind == "softmax":
            return torch.softmax(outputs, dim=1)[:, idx]
        p = outputs[:, 0] if kind == "probability" else outputs[:, idx]
        if not bool(((p >= -1e-6) & (p <= 1 + 1e-6)).all()):
            raise CheckpointError(f"{self.what('model')}: output {kind} gave {p.tolist()[:4]}, outside [0, 1]: "
                                  "declare output: logit (or softmax) in the spec")
        return p.clamp(0, 1)

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 1)).eval()

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        side = TINY_SIDE if tiny else 224
        path = out_dir / "model.onnx"
        # TorchScript exporter: ~15x faster than the dynamo one for this small CNN (same graph).
        torch.onnx.export(model, (torch.zeros(1, 3, side, side),), str(path), dynamo=False, input_names=["pixels"],
                          output_names=["logit"], dynamic_axes={"pixels": {0: "batch"}, "logit": {0: "batch"}})
        return {"model": str(path)}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        side = TINY_SIDE if tiny else 224
        return {"resize": side + side // 8, "crop": side, "mean": [0.485, 0.456, 0.406],
                "std": [0.229, 0.224, 0.225], "output": "logit"}
