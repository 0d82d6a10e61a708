"""What would explain an odd number: the machine, its caches and memory, clocks and power.

Host facts come from /proc and /sys (Linux) with portable fallbacks; GPU clocks and power from
NVML (the `nvidia-ml-py` package) or, without it, `nvidia-smi`. Backends add their own facts
(library versions, thread counts, TF32 flags). Nothing here imports torch or CuPy.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from rooflint.specs import Hardware


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def last_level_cache_bytes() -> int | None:
    """Size of the largest CPU cache level reported by sysfs (per its sharing domain)."""
    best = None
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            text = (index / "size").read_text().strip()
        except OSError:
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        value = int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)
        best = max(best or 0, value)
    return best


def total_memory_bytes() -> int | None:
    return _meminfo("MemTotal", "SC_PHYS_PAGES")


def available_memory_bytes() -> int | None:
    """MemAvailable of /proc/meminfo: what can be allocated without swapping."""
    return _meminfo("MemAvailable", "SC_AVPHYS_PAGES")


def _meminfo(field: str, sysconf_pages: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf(sysconf_pages) * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def host_environment() -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "cpu": cpu_model(),
        "cpu_cores": cpu_cores(),
        "llc_bytes": last_level_cache_bytes(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "memory_total_bytes": total_memory_bytes(),
        "memory_available_bytes": available_memory_bytes(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                       if k in os.environ},
    }


def gpu_telemetry(index: int = 0) -> dict[str, Any]:
    """SM and memory clocks (current and max), power draw and limit, temperature of one GPU.
    A clock well under its max during a run explains a low number (power or thermal capping)."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return _smi_telemetry(index)
    try:
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        sm, mem = pynvml.NVML_CLOCK_SM, pynvml.NVML_CLOCK_MEM
        return {
            "source": "nvml",
            "driver": _text(pynvml.nvmlSystemGetDriverVersion()),
            "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, sm),
            "sm_clock_max_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, sm),
            "mem_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, mem),
            "mem_clock_max_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, mem),
            "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000,
            "power_limit_w": pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000,
            "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
        }
    except Exception as exc:  # NVML present but unusable (no driver, container limits)
        return {"source": "nvml", "error": str(exc)}


_SMI_FIELDS = ("driver_version", "clocks.sm", "clocks.max.sm", "clocks.mem", "clocks.max.mem",
               "power.draw", "power.limit", "temperature.gpu")
_SMI_KEYS = ("driver", "sm_clock_mhz", "sm_clock_max_mhz", "mem_clock_mhz", "mem_clock_max_mhz",
             "power_w", "power_limit_w", "temperature_c")


def _smi_telemetry(index: int) -> dict[str, Any]:
    if not shutil.which("nvidia-smi"):
        return {"source": "none", "note": "neither NVML (pip install nvidia-ml-py) nor nvidia-smi found"}
    try:
        out = subprocess.run(["nvidia-smi", f"--id={index}", f"--query-gpu={','.join(_SMI_FIELDS)}",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"source": "nvidia-smi", "error": str(exc)}
    values = [v.strip() for v in out.stdout.strip().split(",")]
    if out.returncode or len(values) != len(_SMI_KEYS):
        return {"source": "nvidia-smi", "error": (out.stderr or out.stdout).strip()[:200]}
    return {"source": "nvidia-smi", **{k: _number(v) for k, v in zip(_SMI_KEYS, values)}}


def _number(v: str) -> Any:
    try:
        return float(v)
    except ValueError:
        return v


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def match_profile(device_name: str, profiles: list[Hardware]) -> Hardware | None:
    """The built-in profile whose device_names holds this exact driver name (case and spacing
    aside). Exact, so that an H100 PCIe is never taken for an H100 SXM."""
    want = " ".join(device_name.lower().split())
    for hw in profiles:
        if any(" ".join(n.lower().split()) == want for n in hw.device_names):
            return hw
    return None
