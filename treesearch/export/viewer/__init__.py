"""The HTML viewer's source files (HTML template, CSS, JavaScript), read by
:mod:`treesearch.export.html` and inlined into one self-contained page."""
