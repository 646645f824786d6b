"""The GPU resource: how the diffusion pipelines of the generation stage and the detectors run (the device
is the project's `models.device`; the detectors' precision is `detectors.dtype`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field

# torch and diffusers load in the steps that use this resource, not with the code location.
if TYPE_CHECKING:
    from semitruths_dagster.detectors.runtime import ScoringSettings
    from semitruths_dagster.generation import DeviceSettings
    from semitruths_dagster.generation.loading import LoadedPipeline
    from semitruths_dagster.hub import ModelSource


class GpuResource(ConfigurableResource):
    """Dtype, batch size, attention kernel, torch.compile and CPU offload for generation (and the controls'
    VAE); batch size for the detectors.

    The device is `models.device` of the configuration, shared with the models and the detectors. A
    pipeline loads once per process and is reused across batches (the library caches it). `dtype` is the
    one place of generation's precision; detectors score in their own, `detectors.dtype` of the
    configuration (default: each plugin's authors' precision), never in this one.
    """

    dtype: str = Field(default="auto", description="generation's precision: auto (fp16 on GPU, fp32 on CPU) | "
                       "float16 | bfloat16 | float32 (detectors: detectors.dtype of the configuration)")
    batch_size: int = Field(default=1, description="items per UNet call: inpainting, and p2p null-text inversion + editing")
    attention: str = Field(default="sdpa", description="sdpa | eager | xformers | sdpa-flash | sdpa-efficient | ...")
    compile_unet: bool = Field(default=False, description="torch.compile the denoiser (inpainting)")
    compile_mode: str | None = Field(default=None, description="torch.compile mode, e.g. max-autotune")
    cpu_offload: bool = Field(default=False, description="enable_model_cpu_offload (GPU only)")
    detector_batch_size: int = Field(default=0, description="images per detector forward pass; 0 = "
                                     "detectors.batch_size of the configuration")

    def settings(self, device: str) -> DeviceSettings:
        from semitruths_dagster.generation import DeviceSettings

        return DeviceSettings(device, self.dtype, self.batch_size, self.attention, self.compile_unet,
                              self.compile_mode, self.cpu_offload)

    def scoring(self, source: ModelSource | str, dtype: str | None = None,
                default_batch_size: int = 16) -> ScoringSettings:
        """Device, precision and batch size of the detectors: from a `hub.ModelSource` whose dtype is the
        configuration's detectors.dtype (`detectors.runtime.scoring_settings`), or from a device and that
        dtype given apart."""
        from semitruths_dagster.detectors.runtime import scoring_settings
        from semitruths_dagster.hub import ModelSource

        if not isinstance(source, ModelSource):
            if dtype is None:
                raise TypeError("GpuResource.scoring: a device given on its own needs the detectors' dtype")
            source, dtype = ModelSource(device=source, dtype=dtype), None
        if dtype is not None:
            raise TypeError("GpuResource.scoring: a ModelSource carries its own dtype; do not pass another")
        return scoring_settings(source, self.detector_batch_size or default_batch_size)

    def pipeline(self, generator: str, method: str, source: ModelSource) -> LoadedPipeline:
        """The generator's pipeline from `source` (its device; the dtype and the rest from this resource)."""
        from semitruths_dagster.generation import load_pipeline, resolve_generator

        return load_pipeline(resolve_generator(generator, source), method, self.settings(source.device))
