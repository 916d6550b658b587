"""A KEDA-style client written with Google's grpcio, not by us.

Drives every ExternalScaler RPC the way the KEDA operator does, plus gRPC
health and server reflection, against a running `mcp-autoscaler serve`.
Stubs are generated from proto/externalscaler.proto at run time with
grpc_tools. Exits non-zero on the first broken expectation.
"""
import argparse
import importlib
import pathlib
import sys
import tempfile

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc

checks = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    checks["passed" if ok else "failed"] += 1
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))


def load_stubs(proto_dir):
    out = tempfile.mkdtemp()
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}", "externalscaler.proto"])
    if rc != 0:
        sys.exit(f"protoc failed with {rc}")
    sys.path.insert(0, out)
    return importlib.import_module("externalscaler_pb2"), importlib.import_module("externalscaler_pb2_grpc")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--proto", default=str(pathlib.Path(__file__).resolve().parents[2] / "proto"))
    args = ap.parse_args()
    pb, pb_grpc = load_stubs(args.proto)
    channel = grpc.insecure_channel(args.addr)
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb_grpc.ExternalScalerStub(channel)
    ref = pb.ScaledObjectRef(name="conformance", namespace="default",
                             scalerMetadata={"scalerAddress": args.addr, "serverId": "conf-1"})

    spec = stub.GetMetricSpec(ref, timeout=3)
    check("GetMetricSpec returns one spec", len(spec.metricSpecs) == 1, spec)
    name = spec.metricSpecs[0].metricName
    check("target filled in both fields", spec.metricSpecs[0].targetSize == 1 and spec.metricSpecs[0].targetSizeFloat == 1.0, spec)

    values = stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName=name), timeout=3)
    check("GetMetrics answers the spec's metric name", values.metricValues[0].metricName == name, values)
    check("idle server asks for 0", values.metricValues[0].metricValueFloat == 0.0 and values.metricValues[0].metricValue == 0, values)

    check("IsActive is false for an idle server", stub.IsActive(ref, timeout=3).result is False)

    stream = stub.StreamIsActive(ref)
    first = next(stream)
    check("StreamIsActive opens with the current state", first.result is False, first)
    stream.cancel()

    specs = stub.StreamMetricSpec(ref)
    check("StreamMetricSpec opens with the current specs", next(specs).metricSpecs[0].metricName == name)
    specs.cancel()

    bad = pb.ScaledObjectRef(name="conformance", namespace="default", scalerMetadata={"colour": "red"})
    try:
        stub.IsActive(bad, timeout=3)
        check("unknown key is refused", False, "call succeeded")
    except grpc.RpcError as e:
        check("unknown key is INVALID_ARGUMENT naming the key", e.code() == grpc.StatusCode.INVALID_ARGUMENT and "colour" in e.details(), e.details())

    nameless = pb.ScaledObjectRef(name="conformance", scalerMetadata={})
    try:
        stub.IsActive(nameless, timeout=3)
        check("a ScaledObjectRef without namespace is refused", False, "call succeeded")
    except grpc.RpcError as e:
        check("a ScaledObjectRef without namespace is INVALID_ARGUMENT naming it", e.code() == grpc.StatusCode.INVALID_ARGUMENT and "namespace" in e.details(), e.details())

    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="externalscaler.ExternalScaler"), timeout=3).status
    check("grpc.health.v1 says SERVING", status == health_pb2.HealthCheckResponse.SERVING, status)

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = [s.name for s in next(answers).list_services_response.service]
    check("reflection lists externalscaler.ExternalScaler", "externalscaler.ExternalScaler" in names, names)

    print(f"{checks['passed']} passed, {checks['failed']} failed")
    sys.exit(1 if checks["failed"] else 0)


if __name__ == "__main__":
    main()
