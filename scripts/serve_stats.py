"""Figures shared by the load test (load-test-serve.py) and the soak (soak.py) of `almanac serve`:
a process's resident memory, latency percentiles, and the least-squares slope of memory over time."""


def rss_kib(pid):
    """Resident memory of `pid` in KiB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def percentile(values, p):
    """The p-th percentile (nearest rank on the sorted values); NaN when there are none."""
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def slope_kib_per_min(samples):
    """Least-squares slope of (seconds, KiB) samples, in KiB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in samples) / n
    my = sum(m for _, m in samples) / n
    num = sum((t - mx) * (m - my) for t, m in samples)
    den = sum((t - mx) ** 2 for t, _ in samples) or 1.0
    return num / den * 60
