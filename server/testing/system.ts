/**
 * System binaries the tests need. A missing one fails the test with the
 * Debian package to install: tests never skip silently.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Binary -> Debian package that provides it. */
const PACKAGES: Record<string, string> = {
  ffmpeg: "ffmpeg",
  ffprobe: "ffmpeg",
  nginx: "nginx (plus libnginx-mod-rtmp and libnginx-mod-stream)",
  openssl: "openssl",
  chromium: "chromium",
  "firefox-esr": "firefox-esr",
  WebKitWebDriver: "webkit2gtk-driver (plus gstreamer1.0-plugins-bad, gstreamer1.0-plugins-ugly and gstreamer1.0-libav for H.264 and AAC)",
  Xvfb: "xvfb",
  strace: "strace",
};

const found = new Map<string, string>();

/** Absolute path of `name`, or throws naming the package to install. */
export function requireBinary(name: string): string {
  const cached = found.get(name);
  if (cached) return cached;
  let path = "";
  for (const dir of ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"]) {
    if (existsSync(`${dir}/${name}`)) {
      path = `${dir}/${name}`;
      break;
    }
  }
  if (!path) {
    try {
      path = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
    } catch {
      path = "";
    }
  }
  if (!path) {
    const pkg = PACKAGES[name] ?? name;
    throw new Error(`this test needs \`${name}\`: install the Debian package ${pkg} (apt-get install ${pkg.split(" ")[0]}); .ci/run does this`);
  }
  found.set(name, path);
  return path;
}

/** Path of a loadable nginx module, or throws naming its package. */
export function requireNginxModule(name: "ngx_rtmp_module" | "ngx_stream_module"): string {
  const pkg = name === "ngx_rtmp_module" ? "libnginx-mod-rtmp" : "libnginx-mod-stream";
  const path = `/usr/lib/nginx/modules/${name}.so`;
  if (!existsSync(path)) throw new Error(`this test needs ${path}: install the Debian package ${pkg}; .ci/run does this`);
  return path;
}
