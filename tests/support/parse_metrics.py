#!/usr/bin/python3
"""Reads Prometheus text exposition on stdin with prometheus_client's own
parser (Debian's python3-prometheus-client) and prints it as JSON:
{"family": {"type": T, "samples": [[name, {labels}, value], ...]}}.
A format error exits non-zero with the parser's message."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
json.dump(families, sys.stdout)
