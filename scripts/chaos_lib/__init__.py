"""The pieces of scripts/chaos.py: processes (procs), the seeded plan (schedule),
the clients (workload) and the invariants (checker)."""
