"""Prompt audio: text turned into an 8 kHz mono 16-bit WAV with espeak-ng and sox (the format pjsua2 plays), cached
by the text's hash under the media folder; uploaded audio converted the same way. Chinese text gets the Mandarin
voice (``cmn``), anything else English."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed

_CJK = re.compile(r"[\u3400-\u9fff]")


def media_dir() -> Path:
    """Where telephony files live: prompts/ and recordings/ under the data folder's media."""
    path = Path(settings.DATA_DIR) / "media" / "telephony"
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve(relative: str) -> Path:
    """A stored relative name to its path; refuses names that leave the telephony folder."""
    base = media_dir().resolve()
    path = (base / relative).resolve()
    if base not in path.parents:
        raise ValueError("outside the telephony media folder")
    return path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def voice_for(text: str) -> str:
    return "cmn" if _CJK.search(text) else "en"


def tts_available() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def prompt_for_text(text: str) -> str:
    """The relative name of the WAV saying ``text`` (made on first use). Empty when the tools are missing: the
    adapter then gets the text alone (a provider with its own speech reads it)."""
    text = text.strip()
    if not text or not tts_available():
        return ""
    voice = voice_for(text)
    digest = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:32]
    rel = f"prompts/tts-{digest}.wav"
    out = media_dir() / rel
    if out.exists():
        return rel
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True, timeout=30
        )
        part = Path(tmp) / "out.wav"
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(part)], check=True,
                       capture_output=True, timeout=30)  # fmt: skip
        part.replace(out)  # atomic: a concurrent maker writes the same bytes
    return rel


def prompt_store_upload(data: bytes, name: str) -> tuple[str, str]:
    """Convert an uploaded audio file (WAV, or anything sox reads) to the prompt format; (relative name, sha256).
    Refuses a file sox cannot read, naming the field."""
    if not shutil.which("sox"):
        raise ValidationFailed(fields={"audio": _("Audio upload needs sox on the server.")})
    digest = hashlib.sha256(data).hexdigest()
    suffix = Path(name).suffix.lower() or ".wav"
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        suffix = ".wav"
    rel = f"prompts/up-{digest[:32]}.wav"
    out = media_dir() / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"in{suffix}"
        src.write_bytes(data)
        part = Path(tmp) / "out.wav"
        done = subprocess.run(["sox", str(src), "-r", "8000", "-c", "1", "-b", "16", str(part)],
                              capture_output=True, timeout=60)  # fmt: skip
        if done.returncode != 0:
            raise ValidationFailed(fields={"audio": _("This is not an audio file the server can read.")})
        part.replace(out)
    return rel, sha256_of(out)
