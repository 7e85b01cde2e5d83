"""Helpers of benchmarks/live_platform.py: the platform process, probes, samplers, log, report."""
