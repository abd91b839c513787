"""make bench-robustness: Navarro et al.'s robustness experiment (Fig. 3) on the live network.

    python -m bench.robustness [--models 20] [--fractions 0 10 20 30 40 50] [--modes ordered chaotic]
                               [--intervals 20] [--steps 10] [--poison-fraction 0.25] [--seed 0]
                               [--solo 3] [--timeout 900]

Twenty recorded runs of the demo's digits MLP (20 intervals × 10 steps): 10 clean, 5 poisoned (a
quarter of every batch carries the backdoor trigger) in 1–3 random intervals, 5 in 2–4
consecutive intervals. The scenarios are fixed by ``--seed``; the runs are trained afresh for
every configuration (new training seeds), because the ledger accepts a trained snapshot only
once. For every configuration (share p of the
10 verifier identities malicious; ordered = approves everything, chaotic = inverts its honest
verdict) the bench

1. restarts exactly round(p·10) verifier workers with TRAINPROOF_EXPERIMENT_ADVERSARY set (the others
   honest), chosen once at random (seeded) in an order that alternates the orgs, so every set is
   spread evenly over both orgs and a larger share contains the smaller ones;
2. submits all models at once (a new model id and fresh runs each), half as org1-user1 and half as org2-user1 — sub-quorums come from the other org while
   it has enough verifiers, so this way every verifier is exposed to half of the models;
3. waits for every verdict and counts a model judged correctly when clean → VERIFIED,
   poisoned → REJECTED.

Beside the measured share it prints the *expected* share: exact, from the contract's own selection
rules over every possible audit sample and a hypergeometric sub-quorum draw, given which workers
are malicious — 20 models are a small sample, this says where it should land. It also reports how
many poisoned models had a poisoned interval among the selected ones (an unselected one cannot be
caught by anyone, honest or not: that caps the accuracy independently of malice), whether each
verdict is the one the assignment and the malicious set predict, and per configuration the median
submit-to-verdict time beside the median replay time the workers report (Celery task results);
first, the demo model itself (make demo's honest run, 10 × 10) alone on the idle honest network.

When it ends — also on an error or Ctrl-C/SIGTERM — it stops the workers it started, by PID, and
runs network/scripts/up.sh, which restarts the honest ones. After a hard kill: python -m bench.workers --restore.
"""
