"""Writers that turn generated notes into things people hear and see: audio and piano rolls."""

from generator.render.audio import RenderError, default_soundfont, render_audio, write_audio
from generator.render.pianoroll import draw_pianoroll

__all__ = ["RenderError", "default_soundfont", "draw_pianoroll", "render_audio", "write_audio"]
