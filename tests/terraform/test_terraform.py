"""Terraform, checked without AWS: it parses, and its wiring agrees with the code."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
MODULE = TF / "modules" / "pushfeed"
ENVS = [TF / "envs" / "dev", TF / "envs" / "prod"]


def pushfeed(*args: str) -> str:
    bin_dir = os.environ.get("PUSHFEED_BIN_DIR") or str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug")
    return subprocess.run([str(Path(bin_dir) / "pushfeed"), *args], check=True, capture_output=True, text=True).stdout


def unquote(v):
    """python-hcl2 7 keeps HCL's quotes in keys and strings; compare plain values."""
    if isinstance(v, dict):
        return {unquote(k): unquote(x) for k, x in v.items() if k not in ("__is_block__", "__comments__", "__inline_comments__")}
    if isinstance(v, list):
        return [unquote(x) for x in v]
    if isinstance(v, str) and len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]
    return v


def parse_dir(d: Path) -> dict[str, dict]:
    out = {}
    for f in sorted(d.glob("*.tf")):
        with f.open() as fh:
            out[f.name] = unquote(hcl2.load(fh))
    return out


def text_of(d: Path) -> str:
    return "\n".join(f.read_text() for f in sorted(d.glob("*.tf")))


def blocks(parsed: dict[str, dict], kind: str) -> list:
    return [b for doc in parsed.values() for b in doc.get(kind, [])]


def resources(parsed: dict[str, dict], rtype: str) -> dict[str, dict]:
    out = {}
    for block in blocks(parsed, "resource"):
        for t, named in block.items():
            if t == rtype:
                out.update(named)
    return out


CATALOGUE = json.loads((MODULE / "catalogue.json").read_text())


def test_every_tf_file_parses():
    files = list(TF.rglob("*.tf"))
    assert len(files) >= 15
    for f in files:
        with f.open() as fh:
            hcl2.load(fh)


def test_the_catalogue_and_ddl_terraform_reads_are_the_codes():
    assert json.loads(pushfeed("catalogue", "--json")) == CATALOGUE, "run: pushfeed catalogue --json > terraform/modules/pushfeed/catalogue.json"


def test_the_sql_and_migrations_terraform_applies_are_the_codes(tmp_path):
    pushfeed("migrations", "--write-terraform", str(tmp_path))
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(MODULE) for p in (MODULE / "sql").rglob("*") if p.is_file()) + [Path("migrations.tf")]
    assert sorted(generated) == sorted(committed), "run: pushfeed migrations --write-terraform terraform/modules/pushfeed"
    for rel in generated:
        assert (tmp_path / rel).read_text() == (MODULE / rel).read_text(), f"{rel} drifted: run pushfeed migrations --write-terraform terraform/modules/pushfeed"


def test_one_firehose_stream_per_catalogue_destination_named_as_the_batcher_names_them():
    module = parse_dir(MODULE)
    streams = resources(module, "aws_kinesis_firehose_delivery_stream")
    assert list(streams) == ["per_type"], "Firehose streams come from the catalogue, not a hand-written list"
    per_type = streams["per_type"]
    assert per_type["for_each"] == "${local.destinations}"
    assert per_type["name"] == "${local.names.firehose_prefix}${each.value.stream_suffix}"
    s3 = per_type["extended_s3_configuration"][0]
    assert s3["prefix"] == "${each.value.s3_prefix}"
    assert s3["compression_format"] == "GZIP"
    assert s3["error_output_prefix"].startswith("${local.catalogue.error_prefix}")
    # The batcher builds <PUSHFEED_FIREHOSE_STREAM_PREFIX><stream_suffix>: the same names.
    batcher = resources(module, "aws_lambda_function")["batcher"]
    env = batcher["environment"][0]["variables"]
    assert env["PUSHFEED_FIREHOSE_STREAM_PREFIX"] == "${local.names.firehose_prefix}"
    assert "destinations = { for d in local.catalogue.destinations : d.name => d }" in text_of(MODULE)


def test_every_prefix_a_stream_writes_is_matched_by_a_loader_pattern_and_errors_are_not():
    patterns = [(re.compile(p["regex"]), p["destination"]) for p in CATALOGUE["key_patterns"]]
    for d in CATALOGUE["destinations"]:
        for suffix in (".gz", ""):  # AWS compresses, moto does not
            key = f"{d['s3_prefix']}2026/01/05/13/pushfeed-prod-{d['stream_suffix']}-1-2026-01-05-13-05-00-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0{suffix}"
            hits = [dest for rx, dest in patterns if rx.search(key)]
            assert hits[:1] == [d["name"]], key
        error_key = f"{CATALOGUE['error_prefix']}{d['name']}/processing-failed/2026/01/05/13/x"
        assert not any(rx.search(error_key) for rx, _ in patterns)
    notification = resources(parse_dir(MODULE), "aws_s3_bucket_notification")["data"]
    queue = notification["queue"][0]
    assert queue["filter_prefix"] == "${local.catalogue.data_prefix}" and queue["events"] == ["s3:ObjectCreated:*"]
    assert not CATALOGUE["error_prefix"].startswith(CATALOGUE["data_prefix"])


def test_every_metric_the_alarms_and_dashboard_name_is_one_the_code_emits():
    code_metrics = {m["name"] for m in CATALOGUE["metrics"]}
    text = text_of(MODULE)
    alarm_metrics = set(re.findall(r'metric\s*=\s*"(\w+)"', text.split("lambda_alarms")[0]))
    dashboard_metrics = set(re.findall(r'\[local\.ns, "(\w+)"', text))
    assert alarm_metrics and dashboard_metrics
    assert alarm_metrics <= code_metrics, alarm_metrics - code_metrics
    assert dashboard_metrics <= code_metrics, dashboard_metrics - code_metrics
    for dim in re.findall(r'\[local\.ns, "\w+", "(\w+)"', text):
        assert dim in CATALOGUE["metric_dimensions"]
    # Every failure metric is alarmed on.
    alarm_metrics |= set(re.findall(r'metric_name\s*=\s*"(\w+)"', text.split('resource "aws_cloudwatch_metric_alarm" "quarantine_ratio"')[1].split("# --- throttling")[0]))
    for failure in ["LoadFailures", "UnmatchedKeys", "QuarantinedRecords", "FailedKinesisRecords", "UnknownTypeEvents", "InvalidLoaderMessages"]:
        assert failure in alarm_metrics


def test_every_alarm_notifies_the_topic():
    alarms = resources(parse_dir(MODULE), "aws_cloudwatch_metric_alarm")
    assert {"pushfeed", "lambda", "iterator_age", "dlq_depth", "firehose_delivery", "loads_waiting"} <= set(alarms)
    for name, alarm in alarms.items():
        assert alarm["alarm_actions"] == "${local.alarm_actions}", name
    assert "alarm_actions = [aws_sns_topic.alerts.arn]" in text_of(MODULE)


def rust_env_names(path: Path) -> set[str]:
    return set(re.findall(r'pub const ENV_\w+: &str = "(PUSHFEED_\w+)"', path.read_text()))


def test_lambda_environment_variables_are_the_ones_the_code_reads():
    functions = resources(parse_dir(MODULE), "aws_lambda_function")
    for name, config in [("batcher", "crates/batcher/src/config.rs"), ("loader", "crates/loader/src/config.rs")]:
        tf_vars = {k for k in functions[name]["environment"][0]["variables"] if k.startswith("PUSHFEED_")}
        code_vars = rust_env_names(ROOT / config)
        assert tf_vars <= code_vars, f"{name}: Terraform sets variables the code never reads: {tf_vars - code_vars}"
    assert "PUSHFEED_FIREHOSE_STREAM_PREFIX" in rust_env_names(ROOT / "crates/batcher/src/config.rs")


def test_both_functions_log_json_at_the_environments_level_and_keep_metric_lines():
    functions = resources(parse_dir(MODULE), "aws_lambda_function")
    for name in ("batcher", "loader"):
        [logging] = functions[name]["logging_config"]
        assert logging["log_format"] == "JSON", name
        assert logging["application_log_level"] == "${var.log_level}", name
        # The level reaches the binary as AWS_LAMBDA_LOG_LEVEL (pushfeed_lambda::init_logging).
        assert "RUST_LOG" not in functions[name]["environment"][0]["variables"], name
    assert "AWS_LAMBDA_LOG_LEVEL" in (ROOT / "crates/lambda/src/lib.rs").read_text()
    [variable] = [v["log_level"] for v in blocks(parse_dir(MODULE), "variable") if "log_level" in v]
    # WARN or ERROR would make Lambda drop the EMF lines (no level = INFO): not allowed.
    condition = variable["validation"][0]["condition"]
    assert "TRACE" in condition and "INFO" in condition and "WARN" not in condition and "ERROR" not in condition
    levels = {env.name: re.search(r'log_level\s*=\s*"(\w+)"', text_of(env)).group(1) for env in (TF / "envs").iterdir()}
    assert levels == {"dev": "DEBUG", "prod": "INFO"}, levels


def test_resource_names_are_the_ones_the_code_finds_them_by():
    """crates/core/src/names.rs defines every name once; Terraform's must be the same."""
    locals_text = (MODULE / "locals.tf").read_text() + (MODULE / "lambda.tf").read_text()
    suffixes = CATALOGUE["resource_name_suffixes"]
    for key, suffix in suffixes.items():
        # The queues are named on their resources, the rest in local.names.
        attr = "name" if key in ("loads_queue", "loads_dlq") else key
        assert re.search(rf'\b{attr}\s*=\s*"\$\{{local\.prefix\}}{re.escape(suffix)}"', locals_text), key
    assert "-vendor" in suffixes.values() and "-alerts" in suffixes.values()


def test_event_source_mapping_is_configured_for_nothing_lost():
    esm = resources(parse_dir(MODULE), "aws_lambda_event_source_mapping")["vendor_stream"]
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert esm["bisect_batch_on_function_error"] is True
    assert esm["maximum_batching_window_in_seconds"] == "${var.batching_window_seconds}"
    assert esm["destination_config"][0]["on_failure"][0]["destination_arn"] == "${aws_s3_bucket.data.arn}", "S3 keeps the whole batch"
    [pre] = esm["lifecycle"][0]["precondition"]
    assert "var.kinesis_retention_hours * 3600 - 3600" in pre["condition"] and "!= -1" in pre["condition"]
    assert CATALOGUE["failure_prefix"] == "aws/lambda/"
    assert not CATALOGUE["failure_prefix"].startswith(CATALOGUE["data_prefix"])
    text = text_of(MODULE)
    assert 'resources = ["${aws_s3_bucket.data.arn}/${local.catalogue.failure_prefix}*"]' in text
    assert "pushfeed replay --env" in text
    variables = {k: v for b in blocks(parse_dir(MODULE), "variable") for k, v in b.items()}
    assert variables["batching_window_seconds"]["default"] == 60
    assert variables["batch_size"]["default"] == 10000


@pytest.mark.parametrize("root", [MODULE, *ENVS], ids=lambda p: p.name)
def test_every_variable_used_is_declared_and_described(root: Path):
    declared = {k: v for b in blocks(parse_dir(root), "variable") for k, v in b.items()}
    used = set(re.findall(r"\bvar\.(\w+)", text_of(root)))
    assert used <= set(declared), used - set(declared)
    for name, v in declared.items():
        assert v.get("description") and v.get("type"), f"variable {name} needs a description and a type"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_each_environment_passes_every_required_module_input(env: Path):
    module_vars = {k: v for b in blocks(parse_dir(MODULE), "variable") for k, v in b.items()}
    required = {k for k, v in module_vars.items() if "default" not in v}
    calls = [m for b in blocks(parse_dir(env), "module") for m in b.values()]
    assert len(calls) == 1
    call = calls[0]
    assert call["source"] == "../../modules/pushfeed"
    assert required <= set(call), required - set(call)
    assert set(call) - {"source"} <= set(module_vars), set(call) - {"source"} - set(module_vars)
    backend = [b for t in blocks(parse_dir(env), "terraform") for b in t.get("backend", [])]
    assert backend and "s3" in backend[0], "a remote-state backend block"
    assert (env / "backend.hcl").exists()


def test_lambda_architecture_is_the_one_packaging_builds():
    arch = (ROOT / "packaging" / "architecture").read_text().strip()
    assert arch in ("x86_64", "arm64")
    for env in ENVS:
        assert 'lambda_architecture = trimspace(file("${path.root}/../../../packaging/architecture"))' in text_of(env)
    assert "packaging/architecture" in (ROOT / "scripts" / "package").read_text()


def test_the_catalogue_page_names_every_destination_reason_and_mapping():
    page = (ROOT / "docs" / "catalogue.md").read_text()
    for d in CATALOGUE["destinations"]:
        assert f"| `{d['name']}` | `{d['table']}` |" in page, d["name"]
    for reason in CATALOGUE["quarantine_reasons"]:
        assert f"| `{reason}` |" in page, reason
    for line in pushfeed("catalogue").splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] in ("braze", "airship") and parts[2] == "→":
            assert f"`{parts[1]}`" in page, parts[1]


def render(template: str, schema: str = "pushfeed", database: str = "dev", loader_user: str = "IAMR:pushfeed-dev-loader-role") -> list[str]:
    """Terraform's templatefile + split, for the templates pushfeed writes (only ${var})."""
    text = template
    for k, v in {"schema": schema, "database": database, "loader_user": loader_user}.items():
        text = text.replace("${" + k + "}", v)
    assert "${" not in text and "%{" not in text
    out = []
    for s in text.split(";\n"):
        s = re.sub(r"(?m)^--.*$", "", s).strip()
        if s:
            out.append(s)
    return out


def sql_files() -> dict[str, list[str]]:
    return {str(p.relative_to(MODULE / "sql")).removesuffix(".sql.tftpl"): render(p.read_text())
            for p in (MODULE / "sql").rglob("*.sql.tftpl")}


def test_every_analyst_view_is_in_the_ddl_terraform_applies():
    statements = sql_files()["views"]
    for view in ("v_push_touchpoints", "v_push_funnel_daily", "v_push_preferred_time", "v_push_engagement"):
        matching = [s for s in statements if s.startswith(f"CREATE OR REPLACE VIEW pushfeed.{view} AS")]
        assert len(matching) == 1, view
        assert matching[0].endswith("WITH NO SCHEMA BINDING")
    assert 'for s in split(";\\n", templatefile("${path.module}/sql/${f}", local.sql_vars))' in text_of(MODULE)


def depends(res: dict) -> set[str]:
    return {d.strip("${}") for d in res.get("depends_on", [])}


def test_ddl_resources_run_in_order_schema_migrations_grants_views():
    parsed = parse_dir(MODULE)
    st = resources(parsed, "aws_redshiftdata_statement")
    assert "ddl" not in st, "one unordered resource for every statement is gone"
    assert st["schema"]["sql"] == '${local.sql_statements["bootstrap"][0]}'
    assert depends(st["migrations_table"]) == {"aws_redshiftdata_statement.schema"}
    migrations = sorted(k for k in st if re.fullmatch(r"migration_\d{4}", k))
    history = json.loads((ROOT / "crates" / "core" / "migrations.json").read_text())["migrations"]
    assert migrations == [f"migration_{m['id']:04d}" for m in history], "one resource pair per migration"
    previous = "aws_redshiftdata_statement.migrations_table"
    for m in migrations:
        assert depends(st[m]) == {previous}, m
        assert depends(st[f"{m}_recorded"]) == {f"aws_redshiftdata_statement.{m}"}, m
        previous = f"aws_redshiftdata_statement.{m}_recorded"
    applied = resources(parsed, "terraform_data")["migrations_applied"]
    assert depends(applied) == {previous}
    assert depends(st["grants"]) == {"terraform_data.migrations_applied"}
    assert depends(st["views"]) == {"aws_redshiftdata_statement.grants"}
    # Every statement runs as the same, documented identity, on the configured database.
    for name, r in st.items():
        assert r["database"] == "${var.redshift_database}", name
        assert r["workgroup_name"] == "${local.ddl_target.workgroup_name}", name
        assert r["count"].startswith("${var.apply_ddl ?"), name
    # No object is loaded before the loader's grants exist.
    notification = resources(parsed, "aws_s3_bucket_notification")["data"]
    assert "aws_redshiftdata_statement.grants" in depends(notification)


def test_new_objects_reach_the_loader_through_a_queue_with_a_dead_letter_queue():
    parsed = parse_dir(MODULE)
    notification = resources(parsed, "aws_s3_bucket_notification")["data"]
    assert "lambda_function" not in notification, "S3 no longer invokes the loader directly"
    [queue] = notification["queue"]
    assert queue["queue_arn"] == "${aws_sqs_queue.loads.arn}" and queue["events"] == ["s3:ObjectCreated:*"]
    assert queue["filter_prefix"] == "${local.catalogue.data_prefix}"
    queues = resources(parsed, "aws_sqs_queue")
    loads = queues["loads"]
    assert loads["visibility_timeout_seconds"] == "${6 * var.loader_timeout_seconds}"
    assert "aws_sqs_queue.loads_dlq.arn" in loads["redrive_policy"] and "var.loads_max_receive_count" in loads["redrive_policy"]
    assert "loader_failures" not in queues
    esm = resources(parsed, "aws_lambda_event_source_mapping")["loads"]
    assert esm["event_source_arn"] == "${aws_sqs_queue.loads.arn}"
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    assert int(esm["batch_size"]) <= 10
    assert "aws_lambda_function_event_invoke_config" not in {t for b in blocks(parsed, "resource") for t in b}
    # The only other way into the loader: the audit check, from its EventBridge rule.
    permissions = resources(parsed, "aws_lambda_permission")
    assert set(permissions) == {"audit_check"}
    assert permissions["audit_check"]["principal"] == "events.amazonaws.com"
    assert permissions["audit_check"]["source_arn"] == "${aws_cloudwatch_event_rule.audit_check.arn}"
    allow = resources(parsed, "aws_sqs_queue_redrive_allow_policy")["loads_dlq"]
    assert "aws_sqs_queue.loads.arn" in allow["redrive_allow_policy"]
    text = text_of(MODULE)
    assert '"sqs:ReceiveMessage", "sqs:DeleteMessage"' in text
    assert "pushfeed redrive --env" in text, "the alarms say how to recover"


def test_the_schema_variable_is_used_by_every_statement_and_the_loader():
    text = text_of(MODULE)
    assert "schema      = var.redshift_schema" in text
    assert "PUSHFEED_REDSHIFT_SCHEMA     = var.redshift_schema" in text
    for name, statements in {k: render(p.read_text(), schema="acme_push") for k, p in
                             ((str(p.relative_to(MODULE / "sql")), p) for p in (MODULE / "sql").rglob("*.sql.tftpl"))}.items():
        for s in statements:
            code = re.sub(r"'(?:[^'\\]|''|\\.)*'", "''", s)
            assert "pushfeed." not in code and " pushfeed_loader" not in code, f"{name}: {s[:120]}"
            if re.search(r"\b(TABLE|INTO|VIEW|LOCK|SCHEMA)\b", code):
                assert "acme_push" in code, f"{name}: {s[:120]}"


def test_the_loader_role_is_granted_to_the_loaders_database_user():
    grants = sql_files()["grants"]
    assert grants[-1] == 'GRANT ROLE pushfeed_loader TO "IAMR:pushfeed-dev-loader-role"'
    assert "GRANT UPDATE ON pushfeed.pushfeed_load_ledger TO ROLE pushfeed_loader" in grants, "LOCK needs more than SELECT/INSERT"
    assert any(g.startswith("ALTER DEFAULT PRIVILEGES IN SCHEMA pushfeed GRANT SELECT ON TABLES TO ROLE pushfeed_analyst") for g in grants)
    text = text_of(MODULE)
    assert '"IAMR:${aws_iam_role.loader.name}"' in text
    migration1 = sql_files()["migrations/0001"]
    assert "CREATE ROLE pushfeed_loader" in migration1 and "CREATE ROLE pushfeed_analyst" in migration1


def test_the_loader_may_head_objects_and_write_only_manifests():
    parsed = parse_dir(MODULE)
    doc = [b for b in blocks(parsed, "data") if "aws_iam_policy_document" in b and "loader" in b["aws_iam_policy_document"]][0]
    statements = {s["sid"]: s for s in doc["aws_iam_policy_document"]["loader"]["statement"]}
    assert statements["WriteCopyManifests"]["actions"] == ["s3:PutObject"]
    assert statements["WriteCopyManifests"]["resources"] == ["${aws_s3_bucket.data.arn}/${local.catalogue.manifest_prefix}*"]
    assert statements["ReadObjectFacts"]["actions"] == ["s3:GetObject"]
    assert "redshift-data:CancelStatement" in statements["FollowOwnStatements"]["actions"]
    assert CATALOGUE["manifest_prefix"] and not CATALOGUE["manifest_prefix"].startswith(CATALOGUE["data_prefix"]), "a manifest must never trigger a load"


def test_silence_breaches_and_failure_modes_have_alarms_with_runbooks():
    parsed = parse_dir(MODULE)
    alarms = resources(parsed, "aws_cloudwatch_metric_alarm")
    # Silence: a metric that stops arriving is missing data, and missing data breaches.
    silence = alarms["silence"]
    assert silence["treat_missing_data"] == "breaching" and silence["comparison_operator"] == "LessThanThreshold"
    text = text_of(MODULE)
    silence_block = text.split("silence_alarms = {")[1].split("\n  }\n}")[0]
    assert set(re.findall(r'metric\s*=\s*"(\w+)"', silence_block)) == {"RecordsIn", "ObjectsLoaded"}
    assert {m["name"] for m in CATALOGUE["metrics"]} >= {"RecordsIn", "ObjectsLoaded"}
    # Every other alarm keeps notBreaching: silence is only alarmed where it means trouble.
    for name, a in alarms.items():
        if name not in ("silence", "canary_freshness", "audit_missing"):
            assert a["treat_missing_data"] == "notBreaching", name
    # The failure modes AWS documents.
    expected = {
        "vendor_throttled": ("AWS/Kinesis", "WriteProvisionedThroughputExceeded"),
        "firehose_throttled": ("AWS/Firehose", "ThrottledRecords"),
        "firehose_freshness": ("AWS/Firehose", "DeliveryToS3.DataFreshness"),
        "destination_delivery": ("AWS/Lambda", "DestinationDeliveryFailures"),
        "failure_age": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        "loads_waiting": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        "iterator_age": ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds"),
    }
    for name, (ns, metric) in expected.items():
        assert (alarms[name]["namespace"], alarms[name]["metric_name"]) == (ns, metric), name
    assert alarms["vendor_near_capacity"]["count"] == '${var.kinesis_stream_mode == "PROVISIONED" ? 1 : 0}'
    # Quarantine as a ratio of records in, not an absolute count.
    ratio = alarms["quarantine_ratio"]
    queries = {q["id"]: q for q in ratio["metric_query"]}
    assert queries["ratio"]["expression"] == "IF(records > 0, 100 * quarantined / records, 0)"
    assert queries["quarantined"]["metric"][0]["metric_name"] == "QuarantinedRecords"
    assert queries["records"]["metric"][0]["metric_name"] == "RecordsIn"
    assert "quarantine_alarm_threshold" not in text
    # The Firehose runbook says what Firehose really does with undelivered data.
    assert "DISCARDS" in alarms["firehose_delivery"]["alarm_description"]
    assert "error prefix after 24 h" not in text
    # Runbooks name the command that recovers.
    for cmd in ("pushfeed redrive --env", "pushfeed replay --env", "pushfeed reconcile --env"):
        assert cmd in text, cmd


def version_tuple(constraint: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.search(r">=\s*([\d.]+)", constraint).group(1).split("."))


@pytest.mark.parametrize("root", [MODULE, *ENVS], ids=lambda p: p.name)
def test_required_version_supports_the_backend_settings_used(root: Path):
    [tf] = [b for b in blocks(parse_dir(root), "terraform")]
    uses_lockfile = any("use_lockfile = true" in p.read_text() for p in root.glob("backend.hcl"))
    if root != MODULE:
        assert uses_lockfile, "S3 native locking is the documented backend"
    assert version_tuple(tf["required_version"]) >= (1, 10, 0), "use_lockfile (S3 native locking) needs Terraform 1.10"


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_each_environment_refuses_other_accounts_credentials(env: Path):
    [provider] = [b["aws"] for b in blocks(parse_dir(env), "provider")]
    assert provider["allowed_account_ids"] == ["${var.aws_account_id}"]
    variables = {k: v for b in blocks(parse_dir(env), "variable") for k, v in b.items()}
    assert "default" not in variables["aws_account_id"], "no default: every environment names its account"
    assert "aws_account_id" in (env / "terraform.tfvars.example").read_text()


def test_the_data_and_its_key_are_never_destroyed_and_the_bucket_name_is_unique():
    parsed = parse_dir(MODULE)
    for rtype, name in [("aws_kinesis_stream", "vendor"), ("aws_s3_bucket", "data"), ("aws_kms_key", "pushfeed")]:
        assert resources(parsed, rtype)[name]["lifecycle"][0]["prevent_destroy"] is True, f"{rtype}.{name}"
    assert 'bucket          = "${local.prefix}-data-${data.aws_caller_identity.current.account_id}"' in text_of(MODULE)
    outputs = {k for b in blocks(parsed, "output") for k in b}
    assert "data_bucket" in outputs, "the CLI's --bucket comes from here"


def test_event_source_mappings_invoke_a_published_version_through_an_alias():
    parsed = parse_dir(MODULE)
    functions = resources(parsed, "aws_lambda_function")
    aliases = resources(parsed, "aws_lambda_alias")
    esms = resources(parsed, "aws_lambda_event_source_mapping")
    for fn, esm in (("batcher", "vendor_stream"), ("loader", "loads")):
        assert functions[fn]["publish"] is True
        assert aliases[fn]["function_version"] == f'${{var.{fn}_version != "" ? var.{fn}_version : aws_lambda_function.{fn}.version}}'
        assert esms[esm]["function_name"] == f"${{aws_lambda_alias.{fn}.arn}}"


def test_prod_vendor_stream_holds_100x_todays_peak():
    today_per_day = 1_500_000
    peak_factor = 10  # stated in terraform/envs/prod/main.tf
    need = 100 * today_per_day / 86_400 * peak_factor
    [module] = [b["pushfeed"] for b in blocks(parse_dir(ENVS[1]), "module")]
    assert ENVS[1].name == "prod"
    if module.get("kinesis_stream_mode", "ON_DEMAND") == "ON_DEMAND":
        return
    peak = module["kinesis_peak_records_per_second"]
    assert peak >= need, (peak, need)
    shards = max(module.get("kinesis_shard_count", 2), -(-125 * peak // 100_000), -(-int(1.25 * peak * module["kinesis_record_bytes"]) // 1_048_576))
    assert shards * 1000 >= need * 1.25, shards
    assert "kinesis_shards = max(" in text_of(MODULE)


def test_a_heartbeat_travels_the_whole_pipeline_and_its_absence_is_an_alarm():
    parsed = parse_dir(MODULE)
    rule = resources(parsed, "aws_cloudwatch_event_rule")["canary"]
    assert rule["schedule_expression"] == "rate(5 minutes)"
    target = resources(parsed, "aws_cloudwatch_event_target")["canary"]
    assert target["arn"] == "${aws_kinesis_stream.vendor.arn}", "into the vendor stream: the whole path"
    template = target["input_transformer"][0]["input_template"]
    assert '"type": "PUSHFEED_CANARY"' in template and "<id>" in template and "<time>" in template
    assert target["input_transformer"][0]["input_paths"] == {"id": "$.id", "time": "$.time"}
    policy = [b for b in blocks(parsed, "data") if "aws_iam_policy_document" in b and "canary" in b["aws_iam_policy_document"]][0]
    statements = policy["aws_iam_policy_document"]["canary"]["statement"]
    assert statements[0]["actions"] == ["kinesis:PutRecord"] and statements[0]["resources"] == ["${aws_kinesis_stream.vendor.arn}"]
    alarm = resources(parsed, "aws_cloudwatch_metric_alarm")["canary_freshness"]
    assert alarm["metric_name"] == "EventFreshnessSeconds" and alarm["dimensions"] == {"EventType": "canary"}
    assert alarm["treat_missing_data"] == "breaching", "no canary at all is an alarm"
    assert "EventFreshnessSeconds" in {m["name"] for m in CATALOGUE["metrics"]}
    assert "canary" in {d["name"] for d in CATALOGUE["destinations"]}
    # Analysts never see it: no view reads push_canary.
    assert all("push_canary" not in s for s in sql_files()["views"])


def test_the_audit_trail_is_wired_from_the_catalogue_to_its_alarm():
    parsed = parse_dir(MODULE)
    # The audit destination is a catalogue destination: its own Firehose stream (the
    # per-type for_each) into push/audit/, loaded like the others into push_audit.
    audit = [d for d in CATALOGUE["destinations"] if d["name"] == "audit"]
    assert len(audit) == 1 and audit[0]["table"] == "push_audit" and audit[0]["s3_prefix"] == "push/audit/"
    firehose = resources(parsed, "aws_kinesis_firehose_delivery_stream")["per_type"]
    assert firehose["for_each"] == "${local.destinations}"
    # The tables come from a migration, the view from the views template.
    sql = (MODULE / "sql").rglob("*.tftpl")
    text = "\n".join(p.read_text() for p in sql)
    assert "CREATE TABLE IF NOT EXISTS ${schema}.push_audit (" in text
    assert "CREATE TABLE IF NOT EXISTS ${schema}.pushfeed_load_audit (" in text
    assert "CREATE OR REPLACE VIEW ${schema}.v_push_audit_hourly AS" in text
    # Every 15 minutes the loader's live alias gets the audit-check input.
    rule = resources(parsed, "aws_cloudwatch_event_rule")["audit_check"]
    assert rule["schedule_expression"] == "rate(15 minutes)"
    target = resources(parsed, "aws_cloudwatch_event_target")["audit_check"]
    assert target["arn"] == "${aws_lambda_alias.loader.arn}"
    assert "audit-check" in target["input"] and "pushfeed" in target["input"]
    permission = resources(parsed, "aws_lambda_permission")["audit_check"]
    assert permission["qualifier"] == "${aws_lambda_alias.loader.name}"
    # The alarm: any missing event, and a check that stops reporting, breach.
    alarm = resources(parsed, "aws_cloudwatch_metric_alarm")["audit_missing"]
    assert alarm["metric_name"] == "AuditMissingEvents" and alarm["treat_missing_data"] == "breaching"
    assert int(alarm["threshold"]) == 0 and alarm["comparison_operator"] == "GreaterThanThreshold"
    assert "pushfeed audit --env" in alarm["alarm_description"] and "pushfeed reconcile --env" in alarm["alarm_description"]
    names = {m["name"] for m in CATALOGUE["metrics"]}
    assert {"AuditMissingEvents", "AuditUnbalancedHours", "AuditLinesSent", "AuditRecordsFailed"} <= names
    assert "AuditRecordsFailed" in (MODULE / "alerts.tf").read_text()
    assert "AuditMissingEvents" in (MODULE / "dashboard.tf").read_text()
    # The loader may run the view's query and read its result (statements it started).
    doc = [b for b in blocks(parsed, "data") if "aws_iam_policy_document" in b and "loader" in b["aws_iam_policy_document"]][0]
    statements = {s["sid"]: s for s in doc["aws_iam_policy_document"]["loader"]["statement"]}
    assert "redshift-data:ExecuteStatement" in statements["RunSqlOnTheWarehouse"]["actions"]
    assert "redshift-data:GetStatementResult" in statements["FollowOwnStatements"]["actions"]
