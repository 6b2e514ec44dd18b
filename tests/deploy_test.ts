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
import { generateCertificate } from "../lib/certificates.ts";
import { parseServerArgs } from "../lib/server_cli.ts";
import { compiledRunFlags } from "./support/compile.ts";
import { rootPath, runCommand, startServer } from "./support/processes.ts";

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
  // YAML 1.1, as kubectl and kustomize read manifests: 0440 is octal.
  const documents = parseAllDocuments(await Deno.readTextFile(path), {
    version: "1.1",
  });
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
  const https = container.ports.find((p: Manifest) => p.name === "https");
  const health = container.ports.find((p: Manifest) => p.name === "health");
  assert.deepEqual(
    [quic.containerPort, quic.protocol],
    [config.port, "UDP"],
  );
  // The HTTP/2 fallback and the browser page: the same port on TCP.
  assert.deepEqual(
    [https.containerPort, https.protocol],
    [config.port, "TCP"],
  );
  // Pods find each other through the Services, never by mDNS.
  assert.equal(config.discovery?.advertise, false);
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
  // Draining, then closing sessions (--drain-timeout), must end before SIGKILL.
  const graceMs = deployment.spec.template.spec.terminationGracePeriodSeconds *
    1000;
  assert.ok(config.drainDelayMs > 0);
  assert.ok(config.drainTimeoutMs > 0);
  assert.ok(
    config.drainDelayMs + config.drainTimeoutMs < graceMs,
    `${config.drainDelayMs} + ${config.drainTimeoutMs} ms within ${graceMs} ms`,
  );
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

/** How the kubelet lays out one file of a Secret volume. */
interface SecretFile {
  /** Permission bits. */
  mode: number;
  /** Owner: always root; `runAsUser` does not apply to Secret files. */
  uid: number;
  /** Group: `fsGroup`, else root. */
  gid: number;
}

/**
 * The kubelet's rule for a Secret volume's file: the item's `mode`, else the
 * volume's `defaultMode`, else 0644, owned by root; with a pod `fsGroup`,
 * the group becomes fsGroup and group read is added (a Secret volume is
 * read-only, so the kubelet's SetVolumeOwnership ORs in 0440).
 */
function secretFile(
  volume: Manifest,
  item: Manifest,
  fsGroup: number | undefined,
): SecretFile {
  const mode = item.mode ?? volume.secret.defaultMode ?? 0o644;
  if (fsGroup === undefined) return { mode, uid: 0, gid: 0 };
  return { mode: mode | 0o440, uid: 0, gid: fsGroup };
}

/**
 * Builds a Secret volume as the kubelet writes it under `root`: the files
 * in a timestamped directory, `..data` pointing at it, and each visible
 * name a symbolic link through `..data`.
 */
async function writeSecretVolume(
  root: string,
  files: Record<string, { text: string } & SecretFile>,
  fsGroup: number | undefined,
): Promise<void> {
  const group = fsGroup ?? 0;
  const stamp = "..2026_01_01_00_00_00.000000001";
  await Deno.mkdir(`${root}/${stamp}`, { recursive: true });
  for (const dir of [root, `${root}/${stamp}`]) {
    await Deno.chown(dir, 0, group);
    await Deno.chmod(dir, fsGroup === undefined ? 0o755 : 0o2755);
  }
  for (const [name, file] of Object.entries(files)) {
    const path = `${root}/${stamp}/${name}`;
    await Deno.writeTextFile(path, file.text);
    await Deno.chown(path, file.uid, file.gid);
    await Deno.chmod(path, file.mode);
  }
  await Deno.symlink(stamp, `${root}/..data`);
  for (const name of Object.keys(files)) {
    await Deno.symlink(`..data/${name}`, `${root}/${name}`);
  }
}

Deno.test({
  name:
    "the pod's user can read the Secret's key as the kubelet mounts it, and the server accepts it",
  // Files owned by root and another group, and processes with the pod's
  // ids, take root. CI runs as root.
  ignore: Deno.uid() !== 0,
  fn: async (t) => {
    const deployment = one(await all(), "Deployment");
    const pod = deployment.spec.template.spec;
    const container = serverContainer(deployment);
    const config = parseServerArgs(container.args);
    const mount = container.volumeMounts.find((m: Manifest) =>
      config.keyFile!.startsWith(`${m.mountPath}/`)
    );
    const volume = pod.volumes.find((v: Manifest) => v.name === mount.name);
    const { runAsUser, runAsGroup, fsGroup } = pod.securityContext;
    const podGroups = [
      fsGroup,
      ...(pod.securityContext.supplementalGroups ?? []),
    ]
      .filter((g) => g !== undefined);
    const dir = await Deno.makeTempDir();
    try {
      await Deno.chmod(dir, 0o755);
      const root = `${dir}/tls`;
      const onDisk = (file: string) =>
        `${root}/${file.slice(mount.mountPath.length + 1)}`;
      const certificate = await generateCertificate();
      const text: Record<string, string> = {
        [config.certFile!.slice(mount.mountPath.length + 1)]:
          certificate.certPem,
        [config.keyFile!.slice(mount.mountPath.length + 1)]: certificate.keyPem,
      };
      const files: Record<string, { text: string } & SecretFile> = {};
      for (const item of volume.secret.items) {
        files[item.path] = {
          text: text[item.path],
          ...secretFile(volume, item, fsGroup),
        };
      }
      await writeSecretVolume(root, files, fsGroup);
      const key = await Deno.stat(onDisk(config.keyFile!));
      assert.equal(key.uid, 0);
      assert.equal(key.mode! & 0o007, 0, "the key is world-readable");

      await t.step(
        "as uid runAsUser with the pod's groups, lib/key_file.ts accepts the key and reads it",
        async () => {
          // The real module, run by the pod's ids; a copy, as the pod's user
          // may not reach the checkout (and key_file.ts imports no other file).
          const check = `${dir}/check`;
          await Deno.mkdir(`${check}/deno_dir`, { recursive: true });
          await Deno.copyFile(
            rootPath("lib/key_file.ts"),
            `${check}/key_file.ts`,
          );
          await Deno.writeTextFile(
            `${check}/main.ts`,
            `import { assertPrivateKeyFile } from "./key_file.ts";
await assertPrivateKeyFile(Deno.args[0]);
const pem = await Deno.readTextFile(Deno.args[0]);
console.log(\`ok uid=\${Deno.uid()} gid=\${Deno.gid()} key=\${pem.length}\`);
`,
          );
          await Deno.chown(`${check}/deno_dir`, runAsUser, runAsGroup);
          const run = await runCommand("setpriv", [
            `--reuid=${runAsUser}`,
            `--regid=${runAsGroup}`,
            `--groups=${podGroups.join(",")}`,
            Deno.execPath(),
            "run",
            "--quiet",
            "--no-config",
            "--no-lock",
            "--no-prompt",
            `--allow-read=${dir}`,
            "--allow-sys=gid,uid",
            `${check}/main.ts`,
            onDisk(config.keyFile!),
          ], { env: { DENO_DIR: `${check}/deno_dir`, HOME: check } });
          assert.equal(run.code, 0, run.stderr);
          assert.equal(
            run.stdout.trim(),
            `ok uid=${runAsUser} gid=${runAsGroup} key=${certificate.keyPem.length}`,
          );
        },
      );

      await t.step(
        "server.ts with the binary's permissions and the pod's groups starts on that key",
        async () => {
          // uid 0 keeps the Deno cache readable; the groups are the pod's,
          // and --allow-sys must let the server read them.
          await using server = await startServer({
            prefix: [
              "setpriv",
              `--regid=${runAsGroup}`,
              `--groups=${podGroups.join(",")}`,
            ],
            runFlags: await compiledRunFlags("server"),
            args: [
              "--no-advertise",
              "--cert",
              onDisk(config.certFile!),
              "--key",
              onDisk(config.keyFile!),
            ],
          });
          assert.equal(server.certHash, certificate.hash);
          const status = await server.stop("SIGTERM");
          assert.equal(status.code, 0, server.stderr.join("\n"));
        },
      );

      await t.step(
        "the same key made world-readable is refused in one line, exit 2",
        async () => {
          await Deno.chmod(onDisk(config.keyFile!), key.mode! | 0o004);
          const run = await runCommand("setpriv", [
            `--regid=${runAsGroup}`,
            `--groups=${podGroups.join(",")}`,
            Deno.execPath(),
            ...await compiledRunFlags("server"),
            rootPath("server.ts"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-advertise",
            "--cert",
            onDisk(config.certFile!),
            "--key",
            onDisk(config.keyFile!),
          ]);
          assert.equal(run.code, 2, run.stdout);
          assert.match(
            run.stderr.trim(),
            /^pingpong-server: .*tls\.key: private key is open to other users \(mode 0\d{3}\); run: chmod 600 /,
          );
          assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
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
    [["UDP", config.port, "quic"], ["TCP", config.port, "https"]],
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
  assert.deepEqual(
    allowed.sort(),
    [
      `TCP/${config.healthPort}`,
      `TCP/${config.port}`,
      `UDP/${config.port}`,
    ].sort(),
  );
});

Deno.test("the Dockerfile builds with compile.sh and runs the binary as non-root on the server's ports", async () => {
  const dockerfile = await Deno.readTextFile(rootPath("deploy/Dockerfile"));
  const ciInstall = await Deno.readTextFile(rootPath(".ci/install"));
  const stages = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.equal(stages.length, 2, "build stage and run stage");
  const denoVersion = /^DENO_VERSION=(\S+)$/m.exec(ciInstall)![1];
  assert.ok(stages[0].endsWith(`-${denoVersion}`), stages[0]);
  assert.match(dockerfile, /^RUN \.\/compile\.sh --target host /m);
  assert.match(stages[1], /distroless.*:nonroot$/);
  const user = /^USER (\d+):(\d+)$/m.exec(dockerfile);
  assert.ok(user && Number(user[1]) > 0, "numeric non-root USER");
  const entrypoint = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)![1]);
  assert.deepEqual(entrypoint, ["/usr/local/bin/pingpong-server"]);
  const cmd = JSON.parse(/^CMD (.+)$/m.exec(dockerfile)![1]);
  const config = parseServerArgs(cmd);
  assert.equal(config.discovery?.advertise, false, "CMD lacks --no-advertise");
  const exposed = /^EXPOSE (.+)$/m.exec(dockerfile)![1].split(" ").sort();
  assert.deepEqual(
    exposed,
    [
      `${config.healthPort}/tcp`,
      `${config.port}/tcp`,
      `${config.port}/udp`,
    ].sort(),
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

Deno.test("the workflows run .ci/run as root in 20 minutes, and test then compile on a version tag", async () => {
  const read = async (name: string) =>
    parseYaml(await Deno.readTextFile(rootPath(`.github/workflows/${name}`)));
  const runs = (workflow: Manifest): string[] =>
    Object.values(workflow.jobs).flatMap((job: Manifest) =>
      (job.steps ?? []).filter((step: Manifest) => step.run).map((
        step: Manifest,
      ) => step.run)
    );
  const ci = await read("ci.yml");
  assert.ok(runs(ci).includes("bash .ci/run"));
  assert.ok(ci.on.pull_request !== undefined);
  const test = ci.jobs.test;
  // The project's CI budget.
  assert.ok(test["timeout-minutes"] <= 20, `${test["timeout-minutes"]} min`);
  // Root (apt-get, ip netns add) on Debian (its chromium package): a
  // Debian container, privileged for network namespaces; GitHub's runner
  // user is not root.
  assert.match(test.container.image, /^debian:/);
  assert.match(test.container.options, /--privileged/);
  // The browser test's screenshot survives the run, failed or not.
  const upload = test.steps.find((step: Manifest) =>
    String(step.uses).startsWith("actions/upload-artifact@")
  );
  assert.ok(upload, "no upload-artifact step");
  assert.equal(upload.if, "always()");
  assert.equal(upload.with.path, "tests/artefacts/");
  const release = await read("release.yml");
  assert.deepEqual(release.on.push.tags, ["v*.*.*"]);
  // No release of a commit whose tests fail.
  assert.ok(ci.on.workflow_call !== undefined);
  assert.equal(release.jobs.test.uses, "./.github/workflows/ci.yml");
  assert.equal(release.jobs.binaries.needs, "test");
  const steps = runs(release).join("\n");
  assert.match(steps, /^\.\/compile\.sh --out dist$/m);
  assert.match(
    steps,
    /gh release upload .* dist\/pingpong-\* dist\/SHA256SUMS/,
  );
  assert.match(steps, /npm i -g deno@2\.9\.6/);
});
