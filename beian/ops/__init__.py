"""Running beian: liveness and readiness, the workers' heartbeats, Prometheus metrics and JSON
logs. Neutral: each side registers what it has (its databases, its heartbeats, its collectors)
from its app's `ready()`, so that a deployment reports on what it runs and nothing else."""
