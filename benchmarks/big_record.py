"""Big-record benchmark: loading a long run's record with the generic validator (the before) and with netmem's
loader (the after), on the same file, in this process.

    PYTHONPATH=. python benchmarks/big_record.py [--samples 1000000] [--skip-generic]

The record is a real small in-app run's, with its samples and loop-lag columns replaced by --samples generated
points (10 ms apart, RSS and VMS around 40 and 400 MB, as a 2.8-hour run at 10 ms would hold). Rows:

- generic   json.loads, then jsonschema over the whole document (every sample walked by the validator): what
            netmem did before it checked the columns with numpy
- netmem    record.load: the capped strict reader, orjson when installed (else Python's json), jsonschema over
            everything but the columns, numpy checks of the columns (finite, non-negative, times in order, equal
            lengths)
- json only json.loads alone: the floor the generic validator stands on (netmem's, with orjson, is lower)

How the app opens such a record without freezing its window: benchmarks/big_open.py.

Then the cap: a file one byte over record.files.MAX_RECORD_BYTES (sparse, so it costs no disk) and
/dev/zero are refused, with the time and the peak memory of the refusal. Times are best of --repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import numpy as np

from netmem_gui.core.config import RunConfig
from netmem_gui.core.records import files, record
from netmem_gui.core.running.execute import execute
from netmem_gui.core.runs.run import Run


def base_record() -> record.Record:
    run = Run(RunConfig(scenario="messages", host="inapp", messages=200, interval_ms=20).validate())

    async def go() -> None:
        await execute(run, asyncio.Event())

    asyncio.run(go())
    return run.record()


def big_record(samples: int) -> record.Record:
    rng = np.random.default_rng(1)
    rec = base_record()
    t = np.round(np.arange(samples) * 0.01 + 0.0123, 4)
    rss = 40_000_000 + np.cumsum(rng.integers(-4096, 4097, samples))
    vms = rss + 360_000_000
    lag = np.round(rng.exponential(0.0004, samples), 6)
    rec["samples"] = {"t_s": t.tolist(), "rss_bytes": rss.tolist(), "vms_bytes": vms.tolist()}
    rec["loop_lag"] = {"t_s": t.tolist(), "lag_s": lag.tolist()}
    return rec


def generic_load(path: Path) -> record.Record:
    data = json.loads(path.read_text(encoding="utf-8"))
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(record.schema()).iter_errors(data))
    assert error is None, error
    return data


def best_of(repeat: int, fn, *args) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - started)
    return min(times)


def refusal(path: str) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        record.load(path)
    except record.RecordError as exc:
        return time.perf_counter() - started, str(exc)
    raise AssertionError(f"{path} was loaded")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-generic", action="store_true", help="don't time the generic validator (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        over = Path(folder) / "over.json"
        with open(over, "wb") as handle:
            handle.truncate(files.MAX_RECORD_BYTES + 1)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for name in (os.fspath(over), "/dev/zero"):
            took, message = refusal(name)
            print(f"refused in {took:.3f} s: {message}")
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(f"peak RSS grew by {grew / 1024:.0f} MB while refusing them (the cap is"
              f" {files.MAX_RECORD_BYTES / 1e6:.0f} MB)")
        path = Path(folder) / "big.json"
        record.save(big_record(args.samples), path)
        size = path.stat().st_size
        print(f"record: {args.samples:,} samples (+ as many loop-lag probes), {size / 1e6:.1f} MB")
        json_s = best_of(args.repeat, lambda: json.loads(path.read_text(encoding="utf-8")))
        netmem_s = best_of(args.repeat, record.load, path)
        print(f"json only  {json_s:7.2f} s")
        print(f"netmem     {netmem_s:7.2f} s   ({netmem_s / json_s:.2f} x json.loads)")
        if not args.skip_generic:
            generic_s = best_of(1, generic_load, path)
            print(f"generic    {generic_s:7.2f} s   ({generic_s / json_s:.2f} x json.loads)")
            print(f"netmem loads it {generic_s / netmem_s:.1f} x faster than the generic validator")

    return 0


if __name__ == "__main__":
    sys.exit(main())
