"""Uploaded training files, copied into a job folder under names the app chooses.

Uploaded names are shown to the user but never used as paths: a staged file is named
``0007-my_tune.txt`` from a filtered copy of the original stem; a MIDI file keeps that copy
alone (``my_tune.mid``, ``my_tune-2.mid`` when its folder has one already), so versions of a
tune in different folders keep one name and training keeps them on one side of the split. A
zip's members are read by the app, never extracted by path, and members with absolute or
``..`` paths are refused.

An upload is music (.mid/.midi) or text (.txt/.md), loose or inside zips: ``upload_kind`` tells
which from the files themselves, and a mix of both is refused with the files named.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from generator.app.settings import safe_name
from generator.data.midi_corpus import MIDI_SUFFIXES, ReadLimits
from generator.data.text_corpus import TEXT_SUFFIXES

MAX_UPLOAD_FILES = 500  # training files per job, zip members included
MAX_UPLOAD_BYTES = 50_000_000  # all uploaded training files of one job together (unzipped)
MAX_ZIP_MEMBERS = 5_000  # entries in one zip, training files or not
MAX_TEXT_FILE_BYTES = 20_000_000  # one text file (MIDI files have ReadLimits' cap)

MUSIC = "music"
TEXT = "text"
SUFFIXES = {MUSIC: MIDI_SUFFIXES, TEXT: TEXT_SUFFIXES}
WHAT = {MUSIC: "MIDI file (.mid, .midi)", TEXT: "text file (.txt, .md)"}


@dataclass
class StagedUpload:
    """Uploaded files copied into a job folder under names the app chose."""

    folder: Path
    kind: str = MUSIC  # what was staged: "music" (MIDI files) or "text"
    files: int = 0  # files staged
    notes: list[tuple[str, str]] = field(default_factory=list)  # (uploaded name, what happened)

    def summary(self) -> str:
        what = "MIDI" if self.kind == MUSIC else "text"
        lines = [f"uploads: {self.files} {what} file{'s' if self.files != 1 else ''} staged"]
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
            return f"skipped: more than {MAX_UPLOAD_FILES} files in one upload"
        if self.bytes + size > MAX_UPLOAD_BYTES:
            return f"skipped: uploads over {MAX_UPLOAD_BYTES // 1_000_000} MB in total"
        self.files += 1
        self.bytes += size
        return None


def _display_name(name: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in name)[-80:]


def _member_paths(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """A zip's files with their paths, leaving out folders and operating-system litter."""
    members = []
    for member in archive.infolist():
        if member.is_dir():
            continue
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if any(part in ("__MACOSX", ".DS_Store") for part in path.parts):
            continue
        members.append((member, path))
    return members


def _kind_of(suffix: str) -> str | None:
    return next((kind for kind, suffixes in SUFFIXES.items() if suffix in suffixes), None)


def upload_kind(files: list[str] | None) -> tuple[str | None, dict[str, list[str]]]:
    """What the uploads would train: ("music" | "text" | None, uploaded names by kind).

    Loose files count by their suffix, zips by the files inside them (hidden ones left out).
    The kind is None when nothing usable was uploaded or when music and text are mixed; the
    names by kind say which files are which."""
    names: dict[str, list[str]] = {MUSIC: [], TEXT: []}
    for upload in files or []:
        upload = Path(upload)
        name = _display_name(upload.name)
        if upload.suffix.lower() != ".zip":
            kind = _kind_of(upload.suffix.lower())
            if kind:
                names[kind].append(name)
            continue
        try:
            with zipfile.ZipFile(upload) as archive:
                members = _member_paths(archive)[:MAX_ZIP_MEMBERS]
        except (zipfile.BadZipFile, OSError):
            continue  # staging says why it was skipped
        inside = {
            _kind_of(path.suffix.lower())
            for _, path in members
            if not any(part.startswith(".") for part in path.parts)
        }
        for kind in inside - {None}:
            names[kind].append(name)
    kinds = [kind for kind, found in names.items() if found]
    return (kinds[0] if len(kinds) == 1 else None), names


def stage_uploads(
    files: list[str] | None, folder: Path, style: str = "", kind: str = MUSIC
) -> StagedUpload:
    """Copy the uploaded files of ``kind`` (MIDI or text), loose or inside .zip files, into
    ``folder``; other files are noted as skipped.

    Music: loose files go under ``folder/<style>/`` (or the top level without a style); a zip's
    first-level folders become styles, as in any MIDI folder (a single top folder is skipped).
    Text has no styles: every file goes to the top level."""
    if kind not in SUFFIXES:
        raise ValueError(f"kind must be {MUSIC} or {TEXT}, got {kind!r}")
    staged = StagedUpload(folder, kind)
    budget = _Budget()
    style_dir = folder / safe_name(style) if style.strip() and kind == MUSIC else folder
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
        elif suffix in SUFFIXES[kind]:
            if size > _max_bytes(kind):
                staged.notes.append((name, f"skipped: too large ({size:,} bytes)"))
                continue
            refused = budget.take(size)
            if refused:
                staged.notes.append((name, refused))
                continue
            target = style_dir / _staged_name(staged, style_dir, upload.stem, suffix)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(upload, target)
            staged.files += 1
        else:
            staged.notes.append((name, f"skipped: not a {WHAT[kind]} or a .zip"))
    return staged


def _max_bytes(kind: str) -> int:
    return ReadLimits().max_file_bytes if kind == MUSIC else MAX_TEXT_FILE_BYTES


def _staged_name(staged: StagedUpload, folder: Path, stem: str, suffix: str) -> str:
    """Text: ``0007-my_story.txt``, a running number and a filtered copy of the uploaded stem.
    MIDI: ``my_tune.mid``, the filtered stem alone (the name groups versions of a tune: see
    generator.data.midi_corpus), numbered only when ``folder`` already holds that name."""
    if staged.kind != MUSIC:
        return f"{staged.files:04d}-{safe_name(stem)}{suffix}"
    name, number = f"{safe_name(stem)}.mid", 1
    while (folder / name).exists():
        number += 1
        name = f"{safe_name(stem)}-{number}.mid"
    return name


def _stage_zip(
    upload: Path, name: str, folder: Path, style_dir: Path, staged: StagedUpload, budget: _Budget
) -> None:
    kind = staged.kind
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError) as error:
        staged.notes.append((name, f"skipped: not a readable zip file ({error})"))
        return
    with archive:
        members = _member_paths(archive)
        if len(members) > MAX_ZIP_MEMBERS:
            staged.notes.append((name, f"skipped: more than {MAX_ZIP_MEMBERS} files inside"))
            return
        keep = []
        for member, path in members:
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
            suffix = path.suffix.lower()
            if suffix not in SUFFIXES[kind]:
                staged.notes.append((shown, f"skipped: not a {WHAT[kind].split(' (')[0]}"))
                continue
            if member.flag_bits & 0x1:
                staged.notes.append((shown, "skipped: encrypted"))
                continue
            if member.file_size > _max_bytes(kind):
                staged.notes.append((shown, f"skipped: too large ({member.file_size:,} bytes)"))
                continue
            refused = budget.take(member.file_size)
            if refused:
                staged.notes.append((shown, refused))
                continue
            music_style = kind == MUSIC and len(inner) > 1
            target_dir = folder / safe_name(inner[0]) if music_style else style_dir
            target = target_dir / _staged_name(staged, target_dir, path.stem, suffix)
            try:
                data = archive.read(member)  # zipfile stops at the declared size and checks CRC
            except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as error:
                staged.notes.append((shown, f"skipped: cannot unpack ({error})"))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            staged.files += 1
