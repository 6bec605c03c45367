"""Corpora: manifests, synthesis, importers, audio I/O, validation, loading and batching."""

from essl.data.manifest import Utterance, read_manifest, resolve_audio_path, write_manifest

__all__ = ["Utterance", "read_manifest", "resolve_audio_path", "write_manifest"]
