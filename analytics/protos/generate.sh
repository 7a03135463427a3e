#!/usr/bin/env bash
# Regenerates the gRPC code from analytics.proto (grpcio-tools is in requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
  analytics/protos/analytics.proto
