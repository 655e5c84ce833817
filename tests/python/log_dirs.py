"""DescribeLogDirs through kafka-python's admin client, for
tests/conformance_api_versions.rs. Prints the raw answer as JSON (one line).

Usage: log_dirs.py BOOTSTRAP
"""

import json
import sys

from kafka.admin import KafkaAdminClient


def main():
    admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], client_id="eddy-tests-log-dirs")
    try:
        print(json.dumps(admin.describe_log_dirs(), default=str))
    finally:
        admin.close()


if __name__ == "__main__":
    main()
