// Validates k8s/base and its overlays offline: kustomize renders it (kubectl kustomize), every
// object passes its Kubernetes OpenAPI schema (kubernetes-models), and the
// objects agree with each other and with the broker's real flags.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

const ROOT = new URL("../../", import.meta.url).pathname;
const PUSH_BROKER = process.env.PUSH_BROKER ?? `${ROOT}build/push-broker`;

function render() {
  const text = execFileSync("kubectl", ["kustomize", `${ROOT}k8s/base`], { encoding: "utf8" });
  return parseAllDocuments(text).map((d) => d.toJSON()).filter(Boolean);
}

// The kubernetes-models class for an object, by apiVersion and kind.
async function modelFor(object) {
  const [group, version] = object.apiVersion.includes("/")
    ? object.apiVersion.split("/") : [null, object.apiVersion];
  const path = group ? `${group}/${version}` : version;
  const module = await import(`kubernetes-models/${path}/${object.kind}`);
  return module[object.kind];
}

const objects = render();
const byKind = (kind) => objects.filter((o) => o.kind === kind);
const one = (kind) => {
  const found = byKind(kind);
  assert.equal(found.length, 1, `expected one ${kind}`);
  return found[0];
};

test("kustomize renders every expected object", () => {
  const kinds = objects.map((o) => o.kind).sort();
  assert.deepEqual(kinds, ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress",
    "PodDisruptionBudget", "Service", "Service"]);
});

test("every object passes its Kubernetes schema", async () => {
  for (const object of objects) {
    const Model = await modelFor(object);
    assert.doesNotThrow(() => new Model(object).validate(), `${object.kind}/${object.metadata.name}`);
  }
});

test("the validator really rejects a broken object", async () => {
  const deployment = structuredClone(one("Deployment"));
  deployment.spec.template.spec.containers[0].ports[0].containerPort = "fifty";
  const Model = await modelFor(deployment);
  assert.throws(() => new Model(deployment).validate(), /containerPort/);
});

test("the pod is locked down and probed", () => {
  const deployment = one("Deployment");
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  assert.equal(deployment.spec.replicas, 1);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
  assert.equal(container.livenessProbe.grpc.port, 50051);
  assert.equal(container.readinessProbe.httpGet.path, "/readyz");
  assert.ok(container.resources.requests.cpu && container.resources.limits.memory);
  assert.ok(pod.affinity.podAntiAffinity && pod.topologySpreadConstraints.length > 0);
  assert.equal(deployment.spec.template.metadata.annotations["prometheus.io/path"], "/metrics");
});

test("the grace period covers the broker's drain", () => {
  const config = one("ConfigMap").data;
  const seconds = (d) => Number(/^(\d+)s$/.exec(d)[1]);
  const grace = one("Deployment").spec.template.spec.terminationGracePeriodSeconds;
  assert.ok(seconds(config.PUSH_BROKER_DRAIN_SPREAD) < seconds(config.PUSH_BROKER_SHUTDOWN_GRACE));
  assert.ok(grace > seconds(config.PUSH_BROKER_SHUTDOWN_GRACE), "SIGKILL would cut the drain short");
});

test("the memory limit covers what the budgets let the broker hold", () => {
  // docs/operations.md's sizing, as bench/run.sh memory measured it: peak RSS at most
  // 1.3x the retention budget, plus the streams' shared budget, plus what
  // each mailbox and each stream costs beside them.
  const config = one("ConfigMap").data;
  const mib = 1024 * 1024;
  const expected = 30 * mib + 1.3 * Number(config.PUSH_BROKER_MAILBOX_MEMORY_BUDGET_BYTES) +
    Number(config.PUSH_BROKER_STREAM_QUEUE_BUDGET_BYTES) +
    220 * Number(config.PUSH_BROKER_MAX_MAILBOXES) + 4096 * Number(config.PUSH_BROKER_MAX_CONNECTIONS);
  const limit = one("Deployment").spec.template.spec.containers[0].resources.limits.memory;
  const units = { Mi: mib, Gi: 1024 * mib };
  const [, amount, unit] = /^(\d+)(Mi|Gi)$/.exec(limit);
  assert.ok(Number(amount) * units[unit] >= expected,
    `the pod limit ${limit} is below the ${Math.ceil(expected / mib)} MiB the budgets allow`);
});

test("every ConfigMap key names a real broker flag", () => {
  // --helpfull prints every flag, then exits with status 1 (Abseil's way).
  const { stdout, stderr } = spawnSync(PUSH_BROKER, ["--helpfull"], { encoding: "utf8" });
  const help = stdout + stderr;
  assert.match(help, /--grpc_port/);
  for (const key of Object.keys(one("ConfigMap").data)) {
    const flag = key.replace(/^PUSH_BROKER_/, "").toLowerCase();
    assert.match(help, new RegExp(`--${flag} `), `${key} is no flag of push-broker`);
  }
});

test("services, ingress, HPA and PDB point at what exists", () => {
  const deployment = one("Deployment");
  const podLabels = deployment.spec.template.metadata.labels;
  const containerPorts = deployment.spec.template.spec.containers[0].ports.map((p) => p.name);
  for (const service of byKind("Service")) {
    for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(podLabels[key], value);
    for (const port of service.spec.ports) assert.ok(containerPorts.includes(port.targetPort), port.targetPort);
  }
  const backend = one("Ingress").spec.rules[0].http.paths[0].backend.service;
  const service = byKind("Service").find((s) => s.metadata.name === backend.name);
  assert.ok(service, `the Ingress names a missing Service ${backend.name}`);
  assert.ok(service.spec.ports.some((p) => p.name === backend.port.name));
  assert.equal(one("Ingress").metadata.annotations["nginx.ingress.kubernetes.io/proxy-buffering"], "off");
  const hpa = one("HorizontalPodAutoscaler");
  assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
  assert.equal(hpa.spec.maxReplicas, 1, "the memory store cannot run more than one replica");
  for (const [key, value] of Object.entries(one("PodDisruptionBudget").spec.selector.matchLabels)) {
    assert.equal(podLabels[key], value);
  }
});

test("the secured overlay mounts the keys Secret where the flags point", async () => {
  const text = execFileSync("kubectl", ["kustomize", `${ROOT}k8s/overlays/secured`], { encoding: "utf8" });
  const secured = parseAllDocuments(text).map((d) => d.toJSON()).filter(Boolean);
  for (const object of secured) {
    const Model = await modelFor(object);
    new Model(object).validate();
  }
  const secret = secured.find((o) => o.kind === "Secret");
  const deployment = secured.find((o) => o.kind === "Deployment");
  const container = deployment.spec.template.spec.containers[0];
  const volume = deployment.spec.template.spec.volumes.find((v) => v.secret);
  assert.equal(volume.secret.secretName, secret.metadata.name);
  const mount = container.volumeMounts.find((m) => m.name === volume.name);
  assert.equal(mount.readOnly, true);
  const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
  for (const [variable, key] of [["PUSH_BROKER_API_KEYS_FILE", "api_keys"],
    ["PUSH_BROKER_CLIENT_TOKEN_SECRET_FILE", "client_token_secrets"]]) {
    assert.equal(env[variable], `${mount.mountPath}/${key}`);
    assert.ok(secret.stringData[key], `the Secret holds ${key}`);
  }
  // The base's ConfigMap and probes are still there.
  assert.ok(container.envFrom.some((e) => e.configMapRef));
});

test("the redis overlay runs several replicas that roll one at a time", async () => {
  const text = execFileSync("kubectl", ["kustomize", `${ROOT}k8s/overlays/redis`], { encoding: "utf8" });
  const rendered = parseAllDocuments(text).map((d) => d.toJSON()).filter(Boolean);
  for (const object of rendered) {
    const Model = await modelFor(object);
    assert.doesNotThrow(() => new Model(object).validate(), `${object.kind}/${object.metadata.name}`);
  }
  const find = (kind) => rendered.find((o) => o.kind === kind);
  const deployment = find("Deployment");
  assert.equal(deployment.spec.replicas, 3);
  assert.deepEqual(deployment.spec.strategy,
    { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  const hpa = find("HorizontalPodAutoscaler");
  assert.equal(hpa.spec.minReplicas, 3);
  assert.equal(hpa.spec.maxReplicas, 20);
  const pdb = find("PodDisruptionBudget");
  assert.equal(pdb.spec.minAvailable, 2);
  assert.ok(!("maxUnavailable" in pdb.spec), "a PDB may not set both minAvailable and maxUnavailable");
  const config = find("ConfigMap").data;
  assert.equal(config.PUSH_BROKER_STORE, "redis");
  assert.match(config.PUSH_BROKER_REDIS_ADDRS, /^[\w.-]+:\d+$/);
  const { stdout, stderr } = spawnSync(PUSH_BROKER, ["--helpfull"], { encoding: "utf8" });
  for (const key of Object.keys(config)) {
    const flag = key.replace(/^PUSH_BROKER_/, "").toLowerCase();
    assert.match(stdout + stderr, new RegExp(`--${flag} `), `${key} is no flag of push-broker`);
  }
  // The password comes from the Secret, mounted where the flag points.
  const container = deployment.spec.template.spec.containers[0];
  const secret = rendered.find((o) => o.kind === "Secret");
  const volume = deployment.spec.template.spec.volumes.find((v) => v.secret?.secretName === secret.metadata.name);
  assert.ok(volume, "the Redis Secret is mounted");
  const mount = container.volumeMounts.find((m) => m.name === volume.name);
  assert.equal(mount.readOnly, true);
  const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
  assert.equal(env.PUSH_BROKER_REDIS_PASSWORD_FILE, `${mount.mountPath}/password`);
  assert.ok(secret.stringData.password);
});
