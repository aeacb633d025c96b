"""Synthetic training data for the symbol detector.

render.py engraves scores with verovio and takes exact boxes from the SVG; generate.py makes
procedural scores (and reads the music21 corpus); augment.py degrades images toward scans and
photos; build_cache.py renders a page cache to disk; dataset.py serves training crops from it.
"""
