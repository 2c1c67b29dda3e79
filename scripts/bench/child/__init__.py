"""What a cold-start child process runs: imported by path from ``first_call.py``, and as a package
by the benchmark itself, which shares the request and the slowdown with its children."""
