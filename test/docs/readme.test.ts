// The README's code samples are the ones the tests run (issue 20): every
// JavaScript, TypeScript and HTML block is either copied verbatim from a
// file the tests run (examples/, checked here) or run by a test under its id
// (the browser samples in e2e/readme.spec.ts, the token sample here). The
// demo page's embedding snippet is the README's. The screenshots the README
// shows are the ones e2e/widget.spec.ts takes (npm run docs:screenshots).
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { verifyToken } from "../../server/security/tokens.js";
import { fences, fillIn, readmeSample } from "../support/readme-samples.js";

const README = readFileSync("README.md", "utf8");
const CODE = new Set(["js", "ts", "html", "json"]);

/** Every .ts file under these directories, as text. */
function sources(dirs: string[]): string {
  let text = "";
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith(".ts")) text += readFileSync(join(dir, e.name), "utf8");
    }
  };
  for (const d of dirs) walk(d);
  return text;
}

describe("README code samples", () => {
  it("every code block is a sample: copied from a file, or run by a test under its id", () => {
    const unmarked = fences(README).filter((f) => CODE.has(f.lang) && !f.sample).map((f) => `README.md:${f.line} (${f.lang})`);
    expect(unmarked).toEqual([]);
  });

  it("file= samples are in their file verbatim, and the file is one the tests run", () => {
    const samples = fences(README).flatMap((f) => (f.sample?.kind === "file" ? [f.sample] : []));
    expect(samples.length).toBeGreaterThanOrEqual(3);
    const consumer = readFileSync("e2e/consumer.spec.ts", "utf8");
    for (const s of samples) {
      expect(existsSync(s.name), `README.md:${s.line}: ${s.name}`).toBe(true);
      expect(readFileSync(s.name, "utf8"), `README.md:${s.line} is not a copy of ${s.name}`).toContain(s.code);
      // examples/<app>/... is installed and run from the packed tarball by the consumer test.
      const app = /^examples\/([^/]+)\//.exec(s.name)?.[1];
      expect(app && consumer.includes(`"${app}"`), `${s.name} is not run by e2e/consumer.spec.ts`).toBe(true);
    }
  });

  it("id= samples are each run by a test", () => {
    const ids = fences(README).flatMap((f) => (f.sample?.kind === "id" ? [f.sample.name] : []));
    expect(ids.sort()).toEqual(["embed-html", "mint-token", "probe", "sdk"]);
    const tests = sources(["e2e", "test"]);
    for (const id of ids) expect(tests, `no test runs readmeSample("${id}")`).toContain(`readmeSample("${id}")`);
  });

  it("the demo page shows the README's embedding snippet", () => {
    const html = readFileSync("web/index.html", "utf8");
    const shown = /<pre><code>([\s\S]*?)<\/code><\/pre>/.exec(html)?.[1];
    const unescaped = shown?.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");
    expect(unescaped).toBe(readmeSample("embed-html").code);
  });

  it("mint-token: the backend sample mints a sealed token the bridge accepts, granting that destination", async () => {
    // Run as a module of this package (so "golive/token" resolves to the build, as in an app).
    const dir = resolve(".tmp", "readme-samples");
    await mkdir(dir, { recursive: true });
    const file = join(dir, "mint-token.mjs");
    const secret = "readme-sample-secret-0123456789abcdef";
    const prelude = `process.env.GOLIVE_TOKEN_SECRET = ${JSON.stringify(secret)};\nconst user = { id: "user-42", youtubeKey: "yt-key-42" };\n`;
    await writeFile(file, `${prelude}${readmeSample("mint-token").code}\nexport { token };\n`);
    try {
      const { token } = (await import(pathToFileURL(file).href)) as { token: string };
      const verified = await verifyToken(secret, token);
      expect(verified.subject).toBe("user-42");
      expect(verified.grant.dst).toEqual([{ id: "yt", url: "rtmp://a.rtmp.youtube.com/live2", key: "yt-key-42" }]);
      expect(verified.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(7000);
      // Sealed: the page holding it cannot read the key.
      for (const part of token.split(".")) expect(Buffer.from(part, "base64url").toString("latin1")).not.toContain("yt-key-42");
    } finally {
      await rm(file, { force: true });
    }
  });

  it("fillIn refuses a placeholder the sample no longer has", () => {
    expect(() => fillIn("a b", { c: "d" })).toThrow(/no longer contains "c"/);
  });
});

describe("README screenshots", () => {
  it("the images the README shows exist and are the ones e2e/widget.spec.ts writes (npm run docs:screenshots)", () => {
    const images = [...README.matchAll(/!\[[^\]]*\]\((docs\/images\/[^)]+\.png)\)/g)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThanOrEqual(2);
    const spec = readFileSync("e2e/widget.spec.ts", "utf8");
    for (const image of images) {
      expect(existsSync(image), image).toBe(true);
      expect(spec, `e2e/widget.spec.ts does not write ${image}`).toContain(`"${image.replace(/^docs\/images\//, "")}"`);
    }
  });
});
