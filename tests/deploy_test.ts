/**
 * deploy/: every Kubernetes manifest validates against the API schema
 * (kubernetes-models), and the manifests and the Dockerfile agree with the
 * server binary's own flags, ports and probes.
 */
import assert from "node:assert/strict";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Service } from "kubernetes-models/v1/Service";
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { parseServerArgs } from "../lib/server_cli.ts";
import { rootPath } from "./support/processes.ts";

const DIR = rootPath("deploy/kubernetes/");

// deno-lint-ignore no-explicit-any
type Manifest = any;

/** kubernetes-models class by `apiVersion/kind`. */
const MODELS: Record<
  string,
  new (data: Manifest) => { validate(): void }
> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
};

async function readYaml(path: string): Promise<Manifest[]> {
  const documents = parseAllDocuments(await Deno.readTextFile(path));
  return documents.map((document) => {
    assert.deepEqual(document.errors, [], path);
    return document.toJS();
  });
}

async function loadManifests(): Promise<Map<string, Manifest[]>> {
  const kustomization = parseYaml(
    await Deno.readTextFile(`${DIR}kustomization.yaml`),
  );
  const byFile = new Map<string, Manifest[]>();
  for (const file of kustomization.resources as string[]) {
    byFile.set(file, await readYaml(`${DIR}${file}`));
  }
  return byFile;
}

async function all(): Promise<Manifest[]> {
  return [...(await loadManifests()).values()].flat();
}

function one(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) =>
    m.kind === kind && (name === undefined || m.metadata.name === name)
  );
  assert.equal(found.length, 1, `one ${kind} ${name ?? ""}`);
  return found[0];
}

function serverContainer(deployment: Manifest): Manifest {
  const [container] = deployment.spec.template.spec.containers;
  return container;
}

function matches(selector: Record<string, string>, labels: Manifest) {
  return Object.entries(selector).every(([key, value]) =>
    labels[key] === value
  );
}

Deno.test("kustomization.yaml lists every manifest in deploy/kubernetes", async () => {
  const kustomization = parseYaml(
    await Deno.readTextFile(`${DIR}kustomization.yaml`),
  );
  assert.equal(kustomization.apiVersion, "kustomize.config.k8s.io/v1beta1");
  assert.equal(kustomization.kind, "Kustomization");
  const files = [];
  for await (const entry of Deno.readDir(DIR)) {
    if (entry.name !== "kustomization.yaml") files.push(entry.name);
  }
  assert.deepEqual([...kustomization.resources].sort(), files.sort());
  assert.equal(kustomization.images[0].name, "pingpong-server");
});

Deno.test("every manifest validates against the Kubernetes API schema", async (t) => {
  for (const [file, manifests] of await loadManifests()) {
    await t.step(file, () => {
      for (const manifest of manifests) {
        const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
        assert.ok(
          Model,
          `no model for ${manifest.apiVersion} ${manifest.kind}`,
        );
        new Model(manifest).validate();
      }
    });
  }
  await t.step("a broken manifest does fail validation", () => {
    assert.throws(
      () =>
        new Service({
          metadata: { name: "x" },
          spec: { ports: [{ port: "4433" as unknown as number }] },
        }).validate(),
      /port must be integer/,
    );
  });
});

Deno.test("the Deployment runs the server with flags it accepts and ports they name", async () => {
  const manifests = await all();
  const deployment = one(manifests, "Deployment");
  const container = serverContainer(deployment);
  // Strict parsing: an unknown or malformed flag throws here.
  const config = parseServerArgs(container.args);
  assert.equal(config.action, "serve");
  const quic = container.ports.find((p: Manifest) => p.name === "quic");
  const health = container.ports.find((p: Manifest) => p.name === "health");
  assert.deepEqual(
    [quic.containerPort, quic.protocol],
    [config.port, "UDP"],
  );
  assert.deepEqual(
    [health.containerPort, health.protocol],
    [config.healthPort, "TCP"],
  );
  assert.deepEqual(container.readinessProbe.httpGet, {
    path: "/readyz",
    port: "health",
  });
  assert.deepEqual(container.livenessProbe.httpGet, {
    path: "/healthz",
    port: "health",
  });
  const annotations = deployment.spec.template.metadata.annotations;
  assert.equal(Number(annotations["prometheus.io/port"]), config.healthPort);
  // Draining, then closing sessions (1 s), must end before SIGKILL.
  const graceMs = deployment.spec.template.spec.terminationGracePeriodSeconds *
    1000;
  assert.ok(config.drainDelayMs > 0);
  assert.ok(config.drainDelayMs + 1000 < graceMs);
  // Readiness must notice the drain well within the delay.
  const probe = container.readinessProbe;
  assert.ok(
    probe.periodSeconds * probe.failureThreshold * 1000 < config.drainDelayMs,
  );
  assert.ok(deployment.spec.replicas >= 2);
});

Deno.test("the Deployment reads its certificate and key from a Secret", async () => {
  const deployment = one(await all(), "Deployment");
  const container = serverContainer(deployment);
  const config = parseServerArgs(container.args);
  const volumes = deployment.spec.template.spec.volumes;
  for (const file of [config.certFile!, config.keyFile!]) {
    const mount = container.volumeMounts.find((m: Manifest) =>
      file.startsWith(`${m.mountPath}/`)
    );
    assert.ok(mount, `${file} is on no mount`);
    assert.equal(mount.readOnly, true);
    const volume = volumes.find((v: Manifest) => v.name === mount.name);
    assert.ok(volume.secret, `${file} is not from a Secret`);
    const name = file.slice(mount.mountPath.length + 1);
    assert.ok(
      volume.secret.items.some((item: Manifest) => item.path === name),
      `${name} not projected`,
    );
  }
});

Deno.test("the Deployment runs non-root with a read-only filesystem and limits", async () => {
  const deployment = one(await all(), "Deployment");
  const pod = deployment.spec.template.spec;
  const container = serverContainer(deployment);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities.drop, ["ALL"]);
  for (const kind of ["requests", "limits"]) {
    assert.ok(container.resources[kind].cpu, `${kind}.cpu`);
    assert.ok(container.resources[kind].memory, `${kind}.memory`);
  }
});

Deno.test("the Services, budget, autoscaler and policy select the Deployment's pods on its ports", async () => {
  const manifests = await all();
  const deployment = one(manifests, "Deployment");
  const labels = deployment.spec.template.metadata.labels;
  const config = parseServerArgs(serverContainer(deployment).args);

  const lb = one(manifests, "Service", "pingpong-server");
  assert.equal(lb.spec.type, "LoadBalancer");
  assert.equal(lb.spec.externalTrafficPolicy, "Local");
  assert.equal(lb.spec.sessionAffinity, "ClientIP");
  assert.ok(matches(lb.spec.selector, labels));
  assert.deepEqual(
    lb.spec.ports.map((p: Manifest) => [p.protocol, p.port, p.targetPort]),
    [["UDP", config.port, "quic"]],
  );

  const headless = one(manifests, "Service", "pingpong-server-headless");
  assert.equal(headless.spec.clusterIP, "None");
  assert.ok(matches(headless.spec.selector, labels));
  // SRV name _pingpong._udp.<service>.<namespace>.svc.cluster.local
  assert.deepEqual(
    headless.spec.ports.map((p: Manifest) => [p.name, p.protocol, p.port]),
    [["pingpong", "UDP", config.port]],
  );

  const pdb = one(manifests, "PodDisruptionBudget");
  assert.ok(matches(pdb.spec.selector.matchLabels, labels));
  assert.ok(pdb.spec.maxUnavailable < deployment.spec.replicas);

  const hpa = one(manifests, "HorizontalPodAutoscaler");
  assert.deepEqual(hpa.spec.scaleTargetRef, {
    apiVersion: deployment.apiVersion,
    kind: "Deployment",
    name: deployment.metadata.name,
  });
  assert.ok(hpa.spec.minReplicas >= deployment.spec.replicas - 1);
  assert.ok(hpa.spec.maxReplicas > hpa.spec.minReplicas);

  const policy = one(manifests, "NetworkPolicy");
  assert.ok(matches(policy.spec.podSelector.matchLabels, labels));
  const allowed = policy.spec.ingress.flatMap((rule: Manifest) =>
    rule.ports.map((p: Manifest) => `${p.protocol}/${p.port}`)
  );
  assert.deepEqual(allowed.sort(), [
    `TCP/${config.healthPort}`,
    `UDP/${config.port}`,
  ]);
});

Deno.test("the Dockerfile builds with compile.sh and runs the binary as non-root on the server's ports", async () => {
  const dockerfile = await Deno.readTextFile(rootPath("deploy/Dockerfile"));
  const ciRun = await Deno.readTextFile(rootPath(".ci/run"));
  const stages = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.equal(stages.length, 2, "build stage and run stage");
  const denoVersion = /^DENO_VERSION=(\S+)$/m.exec(ciRun)![1];
  assert.ok(stages[0].endsWith(`-${denoVersion}`), stages[0]);
  assert.match(dockerfile, /^RUN \.\/compile\.sh --target host /m);
  assert.match(stages[1], /distroless.*:nonroot$/);
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
  assert.ok(user && Number(user[1]) > 0, "numeric non-root USER");
  const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)![1]);
  assert.deepEqual(entrypoint, ["/usr/local/bin/pingpong-server"]);
  const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]);
  const config = parseServerArgs(cmd);
  const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)![1].split(" ").sort();
  assert.deepEqual(
    exposed,
    [`${config.healthPort}/tcp`, `${config.port}/udp`].sort(),
  );
  // The build copies what compile.sh compiles; the ignore file lets it in.
  const ignore = await Deno.readTextFile(
    rootPath("deploy/Dockerfile.dockerignore"),
  );
  for (const path of ["compile.sh", "server.ts", "lib/", "deno.lock"]) {
    assert.match(dockerfile, new RegExp(`COPY .*${path.replace(".", "\\.")}`));
    assert.ok(ignore.includes(`!${path}`), `${path} is ignored`);
  }
});

Deno.test("the workflows run .ci/run, and compile.sh on a version tag", async () => {
  const read = async (name: string) =>
    parseYaml(await Deno.readTextFile(rootPath(`.github/workflows/${name}`)));
  const runs = (workflow: Manifest): string[] =>
    Object.values(workflow.jobs).flatMap((job: Manifest) =>
      job.steps.filter((step: Manifest) => step.run).map((step: Manifest) =>
        step.run
      )
    );
  const ci = await read("ci.yml");
  assert.ok(runs(ci).includes("bash .ci/run"));
  assert.ok(ci.on.pull_request !== undefined);
  const release = await read("release.yml");
  assert.deepEqual(release.on.push.tags, ["v*.*.*"]);
  const steps = runs(release).join("\n");
  assert.match(steps, /^\.\/compile\.sh --out dist$/m);
  assert.match(
    steps,
    /gh release upload .* dist\/pingpong-\* dist\/SHA256SUMS/,
  );
  assert.match(steps, /npm i -g deno@2\.9\.6/);
});
