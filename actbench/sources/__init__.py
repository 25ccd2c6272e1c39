"""Where tables come from: the benchmark registry, the one downloader (locked, resumable), the Hugging Face
Hub, the authors' official release (licence, download, conversion), search-study folders, and
:mod:`~actbench.sources.locate`, the chain from a name or a path to a table file that ``ActBench`` and the
command line both follow. Nothing here imports the network code until a download is needed.
"""
