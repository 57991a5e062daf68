"""Compatibility alias: the export moved to siamese_export.pipeline (stages), .gates, .sources, .options."""

from siamese_trainer.checkpoint import build_encoder as encoder_from  # noqa: F401

from .gates import INT8_MAX_AUC_DROP, INT8_MIN_SPEEDUP, MAX_AUC_DROP  # noqa: F401
from .gates import check_profiles as _check_profiles  # noqa: F401
from .gates import speedup as _speedup  # noqa: F401
from .manifest_out import preprocess_dict as _preprocess_dict  # noqa: F401
from .manifest_out import provenance as _provenance  # noqa: F401
from .manifest_out import write_manifest as _write_manifest  # noqa: F401
from .options import ExportOptions  # noqa: F401
from .pipeline import PARITY_MIN_COSINE, export_bundle  # noqa: F401
from .sources.base import cosine as _cosine  # noqa: F401
from .sources.image import preprocess_from  # noqa: F401
