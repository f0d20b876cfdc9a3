/**
 * The code samples of README.md, for the tests that check them. A sample is
 * a fenced block right after a marker comment:
 *
 *   <!-- sample: file=examples/embed-http/server.ts -->  copied from that file (checked verbatim)
 *   <!-- sample: id=sdk -->                              run by a test under that id (readmeSample("sdk"))
 */
import { readFileSync } from "node:fs";

export interface Sample {
  kind: "file" | "id";
  /** The file path or the id. */
  name: string;
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
}

export interface Fence {
  lang: string;
  line: number;
  sample?: Sample;
}

/** Every fenced block of a Markdown text, each with its sample marker if it has one. */
export function fences(markdown: string): Fence[] {
  const lines = markdown.split("\n");
  const out: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && lines[end] !== "```") end++;
    const code = lines.slice(i + 1, end).join("\n");
    const marker = /^<!-- sample: (file|id)=(\S+) -->$/.exec(lines[i - 1] ?? "");
    out.push({
      lang: open[1]!, line: i + 1,
      ...(marker && { sample: { kind: marker[1] as Sample["kind"], name: marker[2]!, lang: open[1]!, code, line: i + 1 } }),
    });
    i = end;
  }
  return out;
}

/** README's sample with this id; throws if there is none. */
export function readmeSample(id: string, path = "README.md"): Sample {
  const found = fences(readFileSync(path, "utf8")).find((f) => f.sample?.kind === "id" && f.sample.name === id)?.sample;
  if (!found) throw new Error(`${path} has no sample with id=${id}`);
  return found;
}

/** `code` with each placeholder replaced; throws if one is not in it (the sample changed under the test). */
export function fillIn(code: string, replacements: Record<string, string>): string {
  let out = code;
  for (const [from, to] of Object.entries(replacements)) {
    if (!out.includes(from)) throw new Error(`the sample no longer contains ${JSON.stringify(from)}:\n${code}`);
    out = out.split(from).join(to);
  }
  return out;
}
