"""The score as written: MusicXML marks, files, SVG, and notes from MIDI files."""

from __future__ import annotations

import re
import zipfile

import pretty_midi
import pytest

from generator.midi import Note, write_midi
from generator.midi.parts import write_parts
from generator.notation import notate, read_musicxml, score_svg, write_musicxml, write_svg

D_MAJOR_TUNE = [  # D major: F# and C# must be in the key signature, not written on the notes
    Note(i * 0.5, 0.5, p, 80) for i, p in enumerate([62, 66, 69, 74, 73, 71, 69, 66, 67, 64, 61])
] + [Note(5.5, 2.5, 62, 80)]  # a long last note: over the barline, tied


def xml_of(music, **options) -> str:
    return notate(music, **options).musicxml()


def test_musicxml_has_key_meter_ties_beams_and_no_needless_accidentals():
    xml = xml_of(D_MAJOR_TUNE, steps_per_beat=12, meter="4/4", bpm=96)
    assert "<fifths>2</fifths>" in xml
    assert "<beats>4</beats>" in xml and "<beat-type>4</beat-type>" in xml
    assert '<tie type="start"' in xml and '<tie type="stop"' in xml
    assert "<beam" in xml
    assert "<accidental>" not in xml  # every F# and C# is in the key
    assert xml.count("<alter>1</alter>") == 4  # F#4 twice, C#5, C#4
    assert "<per-minute>96</per-minute>" in xml
    assert "Music21</creator>" not in xml  # no made-up composer


def test_pitches_are_spelled_in_a_flat_minor_key():
    notes = [Note(i, 1, p, 80) for i, p in enumerate([63, 66, 70, 62, 63])]  # Eb Gb Bb D Eb
    xml = xml_of(notes, key="Eb minor")
    assert "<fifths>-6</fifths>" in xml
    steps = re.findall(r"<step>([A-G])</step>\s*(?:<alter>(-?\d)</alter>)?", xml)
    assert [(step, alter or "0") for step, alter in steps] == [
        ("E", "-1"),
        ("G", "-1"),
        ("B", "-1"),
        ("D", "0"),
        ("E", "-1"),
    ]
    assert "<accidental>natural</accidental>" in xml  # the leading tone D against the key's Db


def test_six_eight_from_the_meter_argument():
    notes = [Note(i * 0.5, 0.5, 67 + i % 3, 80) for i in range(12)]
    notation = notate(notes, meter="6/8")
    assert notation.bars == 2 and str(notation.meter) == "6/8"
    assert "<beat-type>8</beat-type>" in notation.musicxml()


def test_choir_parts_get_four_staves_with_the_tenor_clef(tmp_path):
    parts = {
        "Soprano": [Note(0, 2, 72, 80), Note(2, 2, 71, 80)],
        "Alto": [Note(0, 2, 67, 80), Note(2, 2, 67, 80)],
        "Tenor": [Note(0, 2, 64, 80), Note(2, 2, 62, 80)],
        "Bass": [Note(0, 2, 48, 80), Note(2, 2, 43, 80)],
    }
    xml = xml_of(parts, steps_per_beat=2)
    assert xml.count("<part id=") == 4
    assert "<clef-octave-change>-1</clef-octave-change>" in xml
    assert "<group-symbol>bracket</group-symbol>" in xml
    back = read_musicxml(xml)
    assert list(back) == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [n.pitch for n in back["Tenor"]] == [64, 62]


def test_chords_make_a_grand_staff_with_two_voices_where_they_overlap():
    notes = [Note(0, 4, 48, 80), Note(0, 2, 64, 80), Note(0, 2, 67, 80), Note(0, 1, 72, 80)]
    notation = notate(notes, steps_per_beat=2)
    assert [s.clef for s in notation.staves] == ["treble", "bass"]
    xml = notation.musicxml()
    assert "<staves>2</staves>" in xml  # one piano part, two staves
    assert "<voice>2</voice>" in xml  # the C5 quarter and the E4-G4 half apart
    back = read_musicxml(xml)
    got = sorted((n.start, n.duration, n.pitch) for staff in back.values() for n in staff)
    assert got == [(0, 1, 72), (0, 2, 64), (0, 2, 67), (0, 4, 48)]


def test_a_midi_file_gives_its_meter_key_tempo_and_tracks(tmp_path):
    path = write_parts(
        {"Melody": [Note(0, 1.5, 69, 80), Note(1.5, 1.5, 67, 80)], "Bass": [Note(0, 3, 45, 80)]},
        tmp_path / "tune.mid",
        bpm=90,
    )
    midi = pretty_midi.PrettyMIDI(str(path))
    midi.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0)]
    midi.key_signature_changes.append(pretty_midi.KeySignature(9 + 12, 0))  # A minor
    midi.write(str(path))
    notation = notate(path)
    assert str(notation.meter) == "3/4" and str(notation.key) == "A minor"
    assert [s.name for s in notation.staves] == ["Melody", "Bass"]
    assert "<per-minute>90</per-minute>" in notation.musicxml()
    assert str(notate(path, meter="6/8", key="C major").key) == "C major"


def test_written_files_read_back_and_mxl_is_a_zip(tmp_path):
    out = write_musicxml(D_MAJOR_TUNE, tmp_path / "sub" / "tune.musicxml")
    assert sum(len(v) for v in read_musicxml(out).values()) == len(D_MAJOR_TUNE)
    mxl = write_musicxml(D_MAJOR_TUNE, tmp_path / "tune.mxl")
    assert zipfile.ZipFile(mxl).read("mimetype") == b"application/vnd.recordare.musicxml"
    assert sum(len(v) for v in read_musicxml(mxl).values()) == len(D_MAJOR_TUNE)
    assert not list(tmp_path.rglob("*.tmp"))


def test_svg_shows_staves_and_a_notehead_per_written_note(tmp_path):
    svg = score_svg(D_MAJOR_TUNE, steps_per_beat=12)
    assert svg.startswith("<svg") or "<svg" in svg[:200]
    assert 'class="staff' in svg
    noteheads = len(re.findall(r'class="notehead"', svg))
    assert noteheads == len(D_MAJOR_TUNE) + 1  # the tied last note is two noteheads
    path = write_svg(D_MAJOR_TUNE, tmp_path / "tune.svg")
    assert path.read_text().count('class="notehead"') == noteheads


def test_a_long_piece_wraps_into_systems_at_the_page_width():
    notes = [Note(i * 0.5, 0.5, 60 + (i * 5) % 17, 80) for i in range(8 * 24)]  # 24 bars
    narrow = score_svg(notes, width=600)
    wide = score_svg(notes, width=1800)
    systems = lambda svg: svg.count('class="system"')  # noqa: E731
    assert systems(narrow) > systems(wide) > 1
    width, height = (
        float(x) for x in re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', narrow).groups()
    )
    assert height > width  # grows downwards, never sideways


def test_pages_beyond_the_first_are_stacked_under_it(monkeypatch):
    from generator.notation import engrave

    notes = [Note(i * 0.5, 0.5, 60 + (i * 5) % 17, 80) for i in range(8 * 24)]  # 24 bars
    one_page = score_svg(notes, width=600)
    monkeypatch.setattr(engrave, "MAX_PAGE_HEIGHT", 1500)  # a page holds a few systems
    stacked = score_svg(notes, width=600)
    assert stacked.count("<svg") > 2  # the outer picture and its pages
    assert stacked.count('class="notehead"') == one_page.count('class="notehead"')
    heights = re.findall(r'<svg x="0" y="([\d.]+)"', stacked)
    assert [float(h) for h in heights] == sorted(float(h) for h in heights)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"meter": "5"}, "4/4"),
        ({"key": "H major"}, "D major"),
        ({"layout": "piano"}, "grand"),
        ({"steps_per_beat": 0}, "at least 1"),
    ],
)
def test_bad_options_are_refused_clearly(options, message):
    with pytest.raises(ValueError, match=message):
        notate(D_MAJOR_TUNE, **options)


def test_no_notes_and_bad_paths_are_refused_naming_the_file(tmp_path):
    empty = write_midi([], tmp_path / "empty.mid")
    with pytest.raises(ValueError, match="empty.mid: no notes"):
        notate(empty)
    with pytest.raises(ValueError, match="no notes"):
        notate([])
    with pytest.raises(ValueError, match=r"tune\.pdf"):
        write_musicxml(D_MAJOR_TUNE, tmp_path / "tune.pdf")
    with pytest.raises(ValueError, match=r"tune\.png"):
        write_svg(D_MAJOR_TUNE, tmp_path / "tune.png")


def test_a_score_engraves_in_a_worker_thread_after_a_warm_up():
    """A web server engraves in its worker threads: Verovio must find its fonts there too."""
    import threading

    from generator.notation import score_svg, warm_up

    warm_up()  # the app calls it in the main thread at start
    out: list[str] = []
    notes = [Note(0.0, 1.0, 60, 64), Note(1.0, 1.0, 64, 64)]
    worker = threading.Thread(target=lambda: out.append(score_svg(notes)))
    worker.start()
    worker.join()
    assert out and out[0].count('class="note"') == 2
