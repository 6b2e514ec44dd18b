import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

function read(path: string): string {
  return Deno.readTextFileSync(new URL(path, ROOT));
}

function libModules(): string[] {
  return [...Deno.readDirSync(new URL("lib/", ROOT))]
    .filter((entry) => entry.isFile && entry.name.endsWith(".ts"))
    .map((entry) => `lib/${entry.name}`)
    .sort();
}

/** The lines of `markdown` inside ```mermaid blocks, with their line numbers. */
function mermaidLines(markdown: string): { line: number; text: string }[] {
  const found: { line: number; text: string }[] = [];
  let inside = false;
  markdown.split("\n").forEach((text, index) => {
    if (text.startsWith("```")) inside = text.trim() === "```mermaid";
    else if (inside) found.push({ line: index + 1, text });
  });
  return found;
}

Deno.test("README's layout table names every module in lib/", () => {
  const readme = read("README.md");
  const layout = readme.slice(readme.indexOf("## Layout"));
  const table = layout.slice(0, layout.indexOf("\n## "));
  const named = [...table.matchAll(/`(lib\/[^`]+)`/g)].map((m) => m[1]);
  assert.ok(named.length > 0, "no lib/ paths in the layout table");
  const patterns = named.map((path) =>
    new RegExp(`^${path.replaceAll(".", "\\.").replaceAll("*", "[^/]*")}$`)
  );
  const missing = libModules().filter((module) =>
    !patterns.some((pattern) => pattern.test(module))
  );
  assert.deepEqual(missing, []);
});

Deno.test("mermaid diagrams in the docs hold no ';' outside quotes (it ends a statement, cutting a label short)", () => {
  const pages = [
    "README.md",
    ...[...Deno.readDirSync(new URL("docs/", ROOT))]
      .filter((entry) => entry.name.endsWith(".md"))
      .map((entry) => `docs/${entry.name}`),
  ];
  const cut: string[] = [];
  for (const page of pages) {
    for (const { line, text } of mermaidLines(read(page))) {
      // Quoted labels may hold entities like &lt; (their ';' is no separator).
      if (text.replace(/"[^"]*"/g, "").includes(";")) {
        cut.push(`${page}:${line}: ${text.trim()}`);
      }
    }
  }
  assert.deepEqual(cut, []);
});

Deno.test("every exported class and function in lib/ has JSDoc with an @example", () => {
  const missing: string[] = [];
  for (const module of libModules()) {
    const lines = read(module).split("\n");
    lines.forEach((text, index) => {
      const match = text.match(
        /^export (?:abstract )?(?:class|(?:async )?function\*?) (\w+)/,
      );
      if (!match) return;
      let doc = "";
      if (lines[index - 1]?.trim() === "*/") {
        for (let at = index - 1; at >= 0; at--) {
          doc = `${lines[at]}\n${doc}`;
          if (lines[at].trim().startsWith("/**")) break;
        }
      }
      const name = `${module} ${match[1]}`;
      if (!doc.includes("@example")) {
        missing.push(name);
      }
    });
  }
  assert.deepEqual(missing, []);
});
