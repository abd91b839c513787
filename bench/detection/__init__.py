"""bench-detection: the contract's selection rule over a scenario suite that stands for real users.

    python -m bench.detection [--quick] [--seed 14] [--workers 2] [--save runs.json | --load runs.json]
    python -m bench.detection.paper      # Navarro et al.'s Table II on digits, every analysis detector

``scenarios`` (configurations and attack families, the calibration / held-out split), ``train``
(one recorded run: the claimed series and the attack's effect), ``evaluate`` (the contract's rule,
per-family figures, the threshold choice), ``report`` (the printed tables).
"""
from bench.detection.scenarios import scenario

__all__ = ["scenario"]
