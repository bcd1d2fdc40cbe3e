"""Data: readers (packaged sets, canonical files), cleaning, vectorizing text, series windows.

Each reader owns the config part it reads (``reviews.ReviewsDataConfig``, ``weather.SeriesDataConfig``,
``cleaning.ColumnRule``). No module here knows a task, a model or Ray Train. It may import ``config`` and
``errors`` only.
"""
