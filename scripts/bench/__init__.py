"""The benchmark behind ``make bench``: what the SDK costs on top of the code it wraps.

Six figures, measured in a clean venv holding only the built wheel (``cleanvenv.py``), each
against baselines measured in the same run (docs/benchmarks.md has the method and results):

1. cold start to process exit over https, against the generated client and raw httpx2
   (``cold.py``, ``tls.py``), with the modules the call imports and their import times
   (``importtime.py``);
2. client CPU time per sync call at body sizes from 200 B to 900 KiB, identity and gzip, over
   http and https (``percall.py``);
3. async throughput at concurrency 50 against ``httpx2.AsyncClient`` (``throughput.py``);
4. TCP connections used by 1,000 sequential calls, and
5. RSS growth over 20,000 calls (``memory.py``);
6. CPU and RSS of one more client over https (``clients.py``).

Every call goes to ``http_server.py``, a keep-alive HTTP server in a process of its own. Run it
from scripts/ (the Makefile does), so that nothing of the checkout but this package is importable:

    python -m bench                       # the full run, about 4 minutes
    python -m bench --smoke               # seconds: proves the machinery works, judges nothing
    python -m bench --inject-delay-us 50  # busy-waits in every SDK call: must MISS
"""
