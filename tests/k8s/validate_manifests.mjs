// Validates deploy/k8s offline: renders the kustomization (resources, the job ConfigMap from
// configMapGenerator, image names), validates every object against the Kubernetes OpenAPI
// schemas (npm kubernetes-models: types, required fields, formats, enums), and checks the
// wiring between the objects, the job file and the Prometheus Kubernetes scrape config.
// Usage: node validate_manifests.mjs REPO_ROOT. Prints one line per failed check; exit 1 if any.
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import YAML from "yaml";

const root = process.argv[2];
const dir = path.join(root, "deploy/k8s");
const failures = [];
let checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) failures.push(what);
  return ok;
}

// ---- Render the kustomization.
const kust = YAML.parse(fs.readFileSync(path.join(dir, "kustomization.yaml"), "utf8"));
const knownKust = ["apiVersion", "kind", "resources", "configMapGenerator", "generatorOptions", "images"];
for (const k of Object.keys(kust)) check(knownKust.includes(k), `kustomization.yaml: unexpected field ${k}`);
check(kust.apiVersion === "kustomize.config.k8s.io/v1beta1" && kust.kind === "Kustomization",
      "kustomization.yaml: not a kustomize.config.k8s.io/v1beta1 Kustomization");
const objects = [];
for (const file of kust.resources) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8"))) {
    check(doc.errors.length === 0, `${file}: YAML errors ${doc.errors}`);
    if (doc.toJS()) objects.push({ file, obj: doc.toJS() });
  }
}
const files = {};
for (const gen of kust.configMapGenerator ?? []) {
  const data = {};
  for (const f of gen.files) {
    files[f] = fs.readFileSync(path.join(dir, f), "utf8");
    data[path.basename(f)] = files[f];
  }
  check(kust.generatorOptions?.disableNameSuffixHash === true,
        "configMapGenerator: names must stay stable (disableNameSuffixHash), the pods refer to them");
  objects.push({ file: "configMapGenerator", obj: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: gen.name }, data } });
}
const images = new Map((kust.images ?? []).map((i) => [i.name, `${i.newName ?? i.name}:${i.newTag ?? "latest"}`]));

// ---- Schema validation.
const models = {
  "v1/Service": "v1/Service", "v1/PersistentVolumeClaim": "v1/PersistentVolumeClaim",
  "v1/ConfigMap": "v1/ConfigMap", "apps/v1/Deployment": "apps/v1/Deployment",
  "apps/v1/StatefulSet": "apps/v1/StatefulSet",
};
for (const { file, obj } of objects) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  if (!check(key in models, `${file}: unexpected kind ${key}`)) continue;
  const mod = await import(`kubernetes-models/${models[key]}`);
  const Model = mod[obj.kind];
  try {
    new Model(obj).validate();
    check(true, "");
  } catch (e) {
    check(false, `${file}: ${obj.kind} ${obj.metadata?.name}: ${e.message}`);
  }
}

// ---- Wiring.
const find = (kind, name) => objects.map((o) => o.obj).find((o) => o.kind === kind && o.metadata.name === name);
const svc = find("Service", "pstrain-scheduler");
const sched = find("Deployment", "pstrain-scheduler");
const pvc = find("PersistentVolumeClaim", "pstrain-scheduler-state");
const psSvc = find("Service", "pstrain-ps");
const ps = find("StatefulSet", "pstrain-ps");
const workers = find("Deployment", "pstrain-worker");
const jobCm = find("ConfigMap", "pstrain-job");
let missing = false;
for (const [o, what] of [[svc, "Service pstrain-scheduler"], [sched, "Deployment pstrain-scheduler"],
                         [pvc, "PVC pstrain-scheduler-state"], [psSvc, "Service pstrain-ps"],
                         [ps, "StatefulSet pstrain-ps"], [workers, "Deployment pstrain-worker"],
                         [jobCm, "ConfigMap pstrain-job"]])
  if (!check(o, `missing ${what}`)) missing = true;
if (missing) finish();

const flags = (argv) => Object.fromEntries(argv.filter((a) => a.startsWith("--")).map((a) => {
  const eq = a.indexOf("=");
  return eq < 0 ? [a.slice(2), true] : [a.slice(2, eq), a.slice(eq + 1)];
}));
const matches = (selector, labels) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const under = (p, mount) => p === mount || p.startsWith(mount.replace(/\/$/, "") + "/");
const toml = files["job.toml"];
const tomlInt = (table, key) => {
  const sec = toml.split(/^\[/m).find((s) => s.startsWith(`${table}]`)) ?? "";
  const m = sec.match(new RegExp(`^${key}\\s*=\\s*(\\d+)`, "m"));
  return m ? Number(m[1]) : undefined;
};
const tomlStr = (table, key) => {
  const sec = toml.split(/^\[/m).find((s) => s.startsWith(`${table}]`)) ?? "";
  const m = sec.match(new RegExp(`^${key}\\s*=\\s*"([^"]*)"`, "m"));
  return m ? m[1] : undefined;
};

for (const w of [sched, ps, workers]) {
  check(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels),
        `${w.kind} ${w.metadata.name}: selector does not match its pod labels`);
  for (const c of w.spec.template.spec.containers) {
    check(c.resources?.requests?.cpu && c.resources?.requests?.memory,
          `${w.metadata.name}/${c.name}: no cpu and memory requests`);
    check(images.has(c.image), `${w.metadata.name}/${c.name}: image ${c.image} is not the kustomization's`);
  }
}

// The scheduler: Service ports -> named container ports -> the flags it listens on.
const sc = sched.spec.template.spec.containers[0];
const sf = flags(sc.command);
const portOf = (c, name) => c.ports?.find((p) => p.name === name)?.containerPort;
check(matches(svc.spec.selector, sched.spec.template.metadata.labels), "Service pstrain-scheduler selects no scheduler pod");
for (const [name, flag] of [["scheduler", "port"], ["admin", "admin-port"]]) {
  const sp = svc.spec.ports.find((p) => p.name === name);
  check(sp && sp.targetPort === name && portOf(sc, name) !== undefined,
        `Service pstrain-scheduler: port ${name} does not target the container's ${name} port`);
  check(String(portOf(sc, name)) === sf[flag], `scheduler: --${flag}=${sf[flag]} is not container port ${name} (${portOf(sc, name)})`);
}
check(sf["bind"] === "0.0.0.0" && sf["admin-bind"] === "0.0.0.0", "scheduler: must bind 0.0.0.0 (job and admin) to be reachable through its Service");
check(sf["advertise"] === svc.metadata.name, `scheduler: --advertise=${sf["advertise"]} is not its Service's name`);
check(sched.spec.replicas === 1 && sched.spec.strategy?.type === "Recreate",
      "scheduler: one replica, strategy Recreate (its job store is ReadWriteOnce)");
for (const probe of ["livenessProbe", "readinessProbe"])
  check(sc[probe]?.httpGet?.path === "/healthz" && sc[probe]?.httpGet?.port === "admin",
        `scheduler: ${probe} is not GET /healthz on the admin port`);
const vol = (podSpec, name) => podSpec.volumes?.find((v) => v.name === name);
const mountFor = (c, p) => c.volumeMounts?.find((m) => under(p, m.mountPath));
const jobMount = mountFor(sc, sf["job"]);
check(jobMount && vol(sched.spec.template.spec, jobMount.name)?.configMap?.name === jobCm.metadata.name &&
        path.basename(sf["job"]) in jobCm.data,
      `scheduler: --job=${sf["job"]} is not the ConfigMap's job file`);
const stateMount = mountFor(sc, sf["state-dir"]);
check(stateMount && vol(sched.spec.template.spec, stateMount.name)?.persistentVolumeClaim?.claimName === pvc.metadata.name,
      `scheduler: --state-dir=${sf["state-dir"]} is not on PVC ${pvc.metadata.name}`);

// The job file agrees with the manifests.
check(tomlInt("cluster", "servers") === ps.spec.replicas,
      `job.toml cluster.servers (${tomlInt("cluster", "servers")}) != PS replicas (${ps.spec.replicas})`);
check(tomlInt("cluster", "workers") === workers.spec.replicas,
      `job.toml cluster.workers (${tomlInt("cluster", "workers")}) != worker replicas (${workers.spec.replicas})`);
check(String(tomlInt("network", "scheduler_port")) === sf["port"], "job.toml network.scheduler_port != scheduler --port");
check(String(tomlInt("network", "admin_port")) === sf["admin-port"], "job.toml network.admin_port != scheduler --admin-port");
check(tomlStr("network", "advertise") === svc.metadata.name, "job.toml network.advertise is not the scheduler Service");

// The address every pod dials: tcp://<scheduler Service>:<its scheduler port>.
const schedAddr = `tcp://${svc.metadata.name}:${svc.spec.ports.find((p) => p.name === "scheduler").port}`;
const wc = workers.spec.template.spec.containers[0];
check(flags(wc.command)["scheduler"] === schedAddr, `workers dial ${flags(wc.command)["scheduler"]}, not ${schedAddr}`);
check(!wc.ports, "workers open no port");

// The PS: its shell command, expanded by sh for each ordinal as the pod would.
const pc = ps.spec.template.spec.containers[0];
check(ps.spec.serviceName === psSvc.metadata.name && psSvc.spec.clusterIP === "None",
      "StatefulSet pstrain-ps: serviceName is not its headless Service");
check(matches(psSvc.spec.selector, ps.spec.template.metadata.labels), "Service pstrain-ps selects no PS pod");
const envField = (c, name) => c.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
check(envField(pc, "POD_NAME") === "metadata.name" && envField(pc, "POD_IP") === "status.podIP",
      "PS: POD_NAME/POD_IP must come from the downward API");
check(pc.command[0] === "sh" && pc.command[1] === "-c", "PS: command is not sh -c SCRIPT");
const claim = ps.spec.volumeClaimTemplates.find((t) => pc.volumeMounts?.some((m) => m.name === t.metadata.name));
check(claim, "PS: no volumeMount of a volumeClaimTemplate (one PVC per shard)");
for (let k = 0; k < ps.spec.replicas; k++) {
  const argv = execFileSync("sh", ["-c", pc.command[2].replace(/^exec /, 'printf "%s\\n" '), "sh"], {
    env: { POD_NAME: `${ps.metadata.name}-${k}`, POD_IP: `10.1.0.${k + 10}`, PATH: process.env.PATH },
  }).toString().trim().split("\n");
  const f = flags(argv);
  check(argv[0] === "pstrain-ps", `PS ${k}: runs ${argv[0]}, not pstrain-ps`);
  check(f["shard-id"] === String(k), `PS pod ${ps.metadata.name}-${k} serves shard ${f["shard-id"]}, not ${k}`);
  check(f["scheduler"] === schedAddr, `PS ${k} dials ${f["scheduler"]}, not ${schedAddr}`);
  check(f["advertise"] === `10.1.0.${k + 10}`, `PS ${k} advertises ${f["advertise"]}, not its pod IP`);
  check(String(portOf(pc, "ps")) === f["port"], `PS ${k}: --port=${f["port"]} is not container port ps`);
  check(claim && under(f["state-dir"], pc.volumeMounts.find((m) => m.name === claim.metadata.name).mountPath),
        `PS ${k}: --state-dir=${f["state-dir"]} is not on its own PVC`);
}
check(psSvc.spec.ports[0].targetPort === "ps", "Service pstrain-ps does not target port ps");
for (const probe of ["livenessProbe", "readinessProbe"])
  check(pc[probe]?.tcpSocket?.port === "ps", `PS: ${probe} is not a TCP check of port ps`);

// Prometheus's Kubernetes service discovery keeps exactly the scheduler Service's admin port.
const prom = YAML.parse(fs.readFileSync(path.join(root, "deploy/monitoring/prometheus-kubernetes.yml"), "utf8"));
const job = prom.scrape_configs.find((j) => j.job_name === "pstrain");
check(job?.kubernetes_sd_configs?.[0]?.role === "endpoints", "prometheus-kubernetes.yml: no endpoints discovery");
const keeps = (job?.relabel_configs ?? []).filter((r) => r.action === "keep");
const meta = {};
for (const [k, v] of Object.entries(svc.metadata.labels))
  meta[`__meta_kubernetes_service_label_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
const kept = (portName, labels) => keeps.every((r) => {
  const value = r.source_labels.map((l) => (l === "__meta_kubernetes_endpoint_port_name" ? portName : labels[l] ?? "")).join(";");
  return new RegExp(`^(?:${r.regex})$`).test(value);
});
check(keeps.length >= 2 && kept("admin", meta), "prometheus-kubernetes.yml: drops the scheduler's admin port");
check(!kept("scheduler", meta), "prometheus-kubernetes.yml: would scrape the scheduler's job port");
const psMeta = {};
for (const [k, v] of Object.entries(psSvc.metadata.labels))
  psMeta[`__meta_kubernetes_service_label_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
check(!kept("ps", psMeta), "prometheus-kubernetes.yml: would scrape the PS Service");

finish();

function finish() {
  for (const f of failures) console.log(`k8s: FAIL: ${f}`);
  console.log(`k8s: ${objects.length} objects, ${checks - failures.length} of ${checks} checks passed`);
  process.exit(failures.length ? 1 : 0);
}
