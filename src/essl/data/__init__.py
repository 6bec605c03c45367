"""Corpora: manifests, synthesis, importers, audio I/O, validation, loading and batching."""

from essl.data.audio import AudioInfo, audio_info, load_audio, write_wav
from essl.data.batch import Batch
from essl.data.loading import LoaderConfig, ResumableLoader, build_loader
from essl.data.manifest import Utterance, read_manifest, resolve_audio_path, write_manifest

__all__ = [
    "AudioInfo",
    "Batch",
    "LoaderConfig",
    "ResumableLoader",
    "Utterance",
    "audio_info",
    "build_loader",
    "load_audio",
    "read_manifest",
    "resolve_audio_path",
    "write_manifest",
    "write_wav",
]
