"""Uploaded training files, copied into a job folder under names the app chooses.

Uploaded names are shown to the user but never used as paths: a staged file is named
``0007-my_tune.mid`` from a filtered copy of the original stem; a zip's members are read by the
app, never extracted by path, and members with absolute or ``..`` paths are refused.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from app_handlers.settings import safe_name
from generator.data.midi_corpus import MIDI_SUFFIXES, ReadLimits

MAX_UPLOAD_FILES = 500  # MIDI files per training job, zip members included
MAX_UPLOAD_BYTES = 50_000_000  # all uploaded MIDI of one job together (unzipped)
MAX_ZIP_MEMBERS = 5_000  # entries in one zip, MIDI or not


@dataclass
class StagedUpload:
    """Uploaded files copied into a job folder under names the app chose."""

    folder: Path
    midi_files: int = 0
    notes: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, what happened)

    def summary(self) -> str:
        lines = [f"uploads: {self.midi_files} MIDI files staged"]
        lines += [f"  {name}: {what}" for name, what in self.notes[:30]]
        if len(self.notes) > 30:
            lines.append(f"  ... and {len(self.notes) - 30} more")
        return "\n".join(lines)


class _Budget:
    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def take(self, size: int) -> str | None:
        """None if a file of ``size`` bytes still fits, else the reason it does not."""
        if self.files >= MAX_UPLOAD_FILES:
            return f"skipped: more than {MAX_UPLOAD_FILES} MIDI files in one upload"
        if self.bytes + size > MAX_UPLOAD_BYTES:
            return f"skipped: uploads over {MAX_UPLOAD_BYTES // 1_000_000} MB in total"
        self.files += 1
        self.bytes += size
        return None


def _display_name(name: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in name)[-80:]


def stage_uploads(files: list[str] | None, folder: Path, style: str = "") -> StagedUpload:
    """Copy uploaded .mid/.midi files and the MIDI files inside .zip files into ``folder``.

    Loose files go under ``folder/<style>/`` (or the top level without a style); a zip's
    first-level folders become styles, as in any MIDI folder (a single top folder is skipped)."""
    staged = StagedUpload(folder)
    budget = _Budget()
    style_dir = folder / safe_name(style) if style.strip() else folder
    for upload in files or []:
        upload = Path(upload)
        name = _display_name(upload.name)
        suffix = upload.suffix.lower()
        try:
            size = upload.stat().st_size
        except OSError:
            staged.notes.append((name, "skipped: the upload could not be read"))
            continue
        if suffix == ".zip":
            _stage_zip(upload, name, folder, style_dir, staged, budget)
        elif suffix in MIDI_SUFFIXES:
            if size > ReadLimits().max_file_bytes:
                staged.notes.append((name, f"skipped: too large ({size:,} bytes)"))
                continue
            refused = budget.take(size)
            if refused:
                staged.notes.append((name, refused))
                continue
            target = style_dir / f"{staged.midi_files:04d}-{safe_name(upload.stem)}.mid"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(upload, target)
            staged.midi_files += 1
        else:
            staged.notes.append((name, "skipped: not a MIDI file (.mid, .midi) or a .zip"))
    return staged


def _stage_zip(
    upload: Path, name: str, folder: Path, style_dir: Path, staged: StagedUpload, budget: _Budget
) -> None:
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError) as error:
        staged.notes.append((name, f"skipped: not a readable zip file ({error})"))
        return
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            staged.notes.append((name, f"skipped: more than {MAX_ZIP_MEMBERS} files inside"))
            return
        keep = []
        for member in members:
            path = PurePosixPath(member.filename.replace("\\", "/"))
            if any(part in ("__MACOSX", ".DS_Store") for part in path.parts):
                continue  # operating-system litter
            if path.is_absolute() or ".." in path.parts:
                staged.notes.append((f"{name}/{_display_name(str(path))}", "skipped: unsafe path"))
                continue
            if not any(part.startswith(".") for part in path.parts):
                keep.append((member, path))
        parts = [p.parts for _, p in keep]
        if parts and all(len(x) > 1 for x in parts) and len({x[0] for x in parts}) == 1:
            parts = [x[1:] for x in parts]  # one folder around everything: not a style
        for (member, path), inner in zip(keep, parts, strict=True):
            shown = f"{name}/{_display_name(str(path))}"
            if path.suffix.lower() not in MIDI_SUFFIXES:
                staged.notes.append((shown, "skipped: not a MIDI file"))
                continue
            if member.flag_bits & 0x1:
                staged.notes.append((shown, "skipped: encrypted"))
                continue
            if member.file_size > ReadLimits().max_file_bytes:
                staged.notes.append((shown, f"skipped: too large ({member.file_size:,} bytes)"))
                continue
            refused = budget.take(member.file_size)
            if refused:
                staged.notes.append((shown, refused))
                continue
            target_dir = folder / safe_name(inner[0]) if len(inner) > 1 else style_dir
            target = target_dir / f"{staged.midi_files:04d}-{safe_name(path.stem)}.mid"
            try:
                data = archive.read(member)  # zipfile stops at the declared size and checks CRC
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as error:
                staged.notes.append((shown, f"skipped: cannot unpack ({error})"))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            staged.midi_files += 1
