"""provision.yml against a local moto server (an AWS endpoint on 127.0.0.1): what it made."""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest
import yaml

from loadtest.stack import Process, free_port

BIN = Path(sys.executable).parent


boto3 = pytest.importorskip("boto3")

ROLES = {"web": 2, "web_read": 1, "worker": 1, "analytics": 1, "rabbitmq": 1, "locust_master": 1,
         "locust_worker": 2}
ADMIN = "198.51.100.7/32"
STORES = "192.0.2.0/24"  # aws_stack_client_cidrs: the stores' network
VPC = "10.42.0.0/16"  # aws_stack_vpc_cidr's default


@pytest.fixture
def aws(tmp_path, monkeypatch):
    """A moto server of this test's own, and boto3 clients pointed at it."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, env[name])
    server = Process("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                     env, tmp_path / "moto.log").start()
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.2)
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, lambda service: boto3.client(service, endpoint_url=url, region_name="us-east-1")
    finally:
        server.stop()


def security_groups(ec2) -> dict[str, dict]:
    return {g["GroupName"]: g for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"].startswith("tigle-")}


def rules(elb, listener: dict) -> list[tuple]:
    """(field, values, target group) of each of the listener's rules but its default."""
    return [(c["Field"], c["Values"], r["Actions"][0].get("TargetGroupArn"))
            for r in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
            if not r["IsDefault"] for c in r["Conditions"]]


# Three playbook runs (plain HTTP, then with a certificate, then the teardown): more than
# pytest.ini's limit allows on a machine busy with other tests.
@pytest.mark.timeout(600)
def test_it_provisions_every_tier_opens_only_what_each_needs_and_tears_down(aws, tmp_path, run_ansible):
    url, client = aws
    ec2 = client("ec2")
    ec2.create_key_pair(KeyName="tigle")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps({"aws_stack_endpoint_url": url, "aws_stack_ami": ami,
                                 "aws_stack_admin_cidr": ADMIN, "aws_stack_client_cidrs": [STORES],
                                 "aws_stack_db_password": "provision-test-password",
                                 "aws_stack_endpoints_file": str(tmp_path / "endpoints.yml")}))
    run_ansible("ansible-playbook", "-i", "localhost,", "provision.yml", "-e", f"@{extra}")

    instances = [i for r in ec2.describe_instances(Filters=[
        {"Name": "tag:project", "Values": ["tigle"]},
        {"Name": "instance-state-name", "Values": ["running", "pending"]}])["Reservations"]
        for i in r["Instances"]]
    roles = [next(t["Value"] for t in i["Tags"] if t["Key"] == "role") for i in instances]
    assert {role: roles.count(role) for role in ROLES} == ROLES
    # The broker's disk holds the stream: bigger than the others.
    disks = {role: ec2.describe_volumes(VolumeIds=[i["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]])
             ["Volumes"][0]["Size"] for i, role in zip(instances, roles)}
    assert (disks["rabbitmq"], disks["web"]) == (40, 8)

    groups = security_groups(ec2)
    ids = {name: g["GroupId"] for name, g in groups.items()}

    def ingress(name: str) -> set[tuple]:
        opened = set()
        for rule in groups[name]["IpPermissions"]:
            for source in rule.get("UserIdGroupPairs", []):
                opened.add((rule["FromPort"], source["GroupId"]))
            for source in rule.get("IpRanges", []):
                opened.add((rule["FromPort"], source["CidrIp"]))
        return opened

    # Metrics: the web's app port, the worker's 9101 and analytics' 9102, from the VPC only.
    assert ingress("tigle-web") == {(8000, ids["tigle-elb"]), (8000, VPC), (22, ADMIN)}
    # The load generators reach the internet-facing load balancer from their public addresses.
    locust_ips = {i["PublicIpAddress"] for i, role in zip(instances, roles) if "locust" in role}
    assert len(locust_ips) == 3
    assert ingress("tigle-elb") == {(80, ids["tigle-locust"]), (80, ADMIN), (80, STORES)} | {
        (80, f"{ip}/32") for ip in locust_ips}
    assert ingress("tigle-analytics") == {(50051, ids["tigle-web"]), (9102, VPC), (22, ADMIN)}
    assert ingress("tigle-rds") == {(3306, ids[f"tigle-{tier}"])
                                    for tier in ("web", "worker", "analytics")}
    assert {(5672, ids[f"tigle-{tier}"]) for tier in ("web", "worker", "analytics")} \
        <= ingress("tigle-rabbitmq")
    assert ingress("tigle-worker") == {(9101, VPC), (22, ADMIN)}

    elb = client("elbv2")
    (balancer,) = elb.describe_load_balancers(Names=["tigle"])["LoadBalancers"]
    (group,) = elb.describe_target_groups(Names=["tigle-web"])["TargetGroups"]
    assert group["HealthCheckPath"] == "/healthz" and group["Port"] == 8000
    # Without a certificate: plain HTTP on port 80 alone, forwarding as it always did.
    (listener,) = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert listener["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    targets = elb.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    assert len(targets["TargetHealthDescriptions"]) == ROLES["web"]
    # Top-N reads go to the read hosts; everything else (purchases, health, admin) to web.
    (reads,) = elb.describe_target_groups(Names=["tigle-web-read"])["TargetGroups"]
    assert reads["HealthCheckPath"] == "/healthz/reads" and reads["Port"] == 8000
    targets = elb.describe_target_health(TargetGroupArn=reads["TargetGroupArn"])
    assert len(targets["TargetHealthDescriptions"]) == ROLES["web_read"]
    assert rules(elb, listener) == [("path-pattern", ["/items/*"], reads["TargetGroupArn"])]

    (database,) = client("rds").describe_db_instances(
        DBInstanceIdentifier="tigle")["DBInstances"]
    assert database["Engine"] == "mysql" and database["PubliclyAccessible"] is False
    assert database["EngineVersion"].startswith("8.4")
    assert database["DBSubnetGroup"]["DBSubnetGroupName"] == "tigle"
    assert [g["VpcSecurityGroupId"] for g in database["VpcSecurityGroups"]] == [ids["tigle-rds"]]

    # deploy.yml finds both through the file provision.yml wrote.
    endpoints = yaml.safe_load((tmp_path / "endpoints.yml").read_text())
    assert endpoints == {"tigle_db_host": database["Endpoint"]["Address"],
                         "tigle_elb_dns": balancer["DNSName"]}

    # A certificate given later: HTTPS on 443 takes over the forwarding and the reads' rule,
    # port 80 only redirects (no rule left on it to slip past the redirect), both ports open.
    certificate = client("acm").request_certificate(
        DomainName="tigle.example.com")["CertificateArn"]
    run_ansible("ansible-playbook", "-i", "localhost,", "provision.yml", "-e", f"@{extra}",
                "-e", f"tigle_certificate_arn={certificate}")
    listeners = {listener["Port"]: listener for listener in elb.describe_listeners(
        LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]}
    assert sorted(listeners) == [80, 443]
    https, http = listeners[443], listeners[80]
    assert https["Protocol"] == "HTTPS"
    assert [c["CertificateArn"] for c in https["Certificates"]] == [certificate]
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert [a["TargetGroupArn"] for a in https["DefaultActions"]] == [group["TargetGroupArn"]]
    assert rules(elb, https) == [("path-pattern", ["/items/*"], reads["TargetGroupArn"])]
    assert http["Protocol"] == "HTTP"
    assert [(a["Type"], a["RedirectConfig"]) for a in http["DefaultActions"]] == [
        ("redirect", {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}",
                      "Query": "#{query}", "StatusCode": "HTTP_301"})]
    assert rules(elb, http) == []
    groups = security_groups(ec2)
    assert ingress("tigle-elb") == {(port, source) for port in (80, 443) for source in
                                    {ids["tigle-locust"], ADMIN, STORES}
                                    | {f"{ip}/32" for ip in locust_ips}}

    # Teardown: the same playbook with aws_stack_state=absent leaves nothing of the project.
    run_ansible("ansible-playbook", "-i", "localhost,", "provision.yml", "-e", f"@{extra}",
                "-e", "aws_stack_state=absent")
    running = [i for r in ec2.describe_instances(Filters=[
        {"Name": "tag:project", "Values": ["tigle"]},
        {"Name": "instance-state-name", "Values": ["running", "pending"]}])["Reservations"]
        for i in r["Instances"]]
    assert running == []
    assert elb.describe_load_balancers()["LoadBalancers"] == []
    assert elb.describe_target_groups()["TargetGroups"] == []
    assert client("rds").describe_db_instances()["DBInstances"] == []
    assert [s["DBSnapshotIdentifier"].startswith("tigle-final-")
            for s in client("rds").describe_db_snapshots()["DBSnapshots"]] == [True]
    assert not [g for g in ec2.describe_security_groups()["SecurityGroups"]
                if g["GroupName"].startswith("tigle-")]
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["tigle"]}])["Vpcs"]
    assert not (tmp_path / "endpoints.yml").exists()
