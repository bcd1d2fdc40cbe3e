"""Models: the chapter's ``nn.Module`` s, no I/O. ``text.py`` (``TextModelConfig``, ``build_text_model``) and
``series.py`` (``SeriesModelConfig``, ``build_series_model``) each own their config part.

It may import ``config`` and ``errors`` only.
"""
