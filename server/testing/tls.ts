/**
 * A throwaway PKI for RTMPS tests, made with the `openssl` CLI: a test CA, a
 * server certificate for `localhost` / 127.0.0.1 signed by it, and a second
 * CA-signed certificate for the wrong hostname, so a client can be shown to
 * verify the chain AND the name.
 *
 * Keys are ECDSA P-256 (fast to generate; Node's TLS, GnuTLS (Debian's ffmpeg)
 * and OpenSSL (nginx) all accept them). Validity is 30 days from now.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./ingest/process.js";
import { requireBinary } from "./system.js";

/** One leaf certificate and its key, as files. */
export interface TestCert {
  /** PEM certificate path. */
  readonly certPath: string;
  /** PEM private key path (unencrypted PKCS#8). */
  readonly keyPath: string;
  /** The certificate, PEM. */
  readonly certPem: string;
  /** DNS names in its subjectAltName. */
  readonly dnsNames: readonly string[];
  /** IP addresses in its subjectAltName. */
  readonly ips: readonly string[];
}

/** Files and PEMs of a test PKI made by {@link makeTestPki}. */
export interface TestPki {
  /** Directory holding every file below. */
  readonly dir: string;
  /** CA certificate path: hand to `ffmpeg -ca_file` or read into `tls.connect({ ca })`. */
  readonly caCertPath: string;
  /** CA private key path. */
  readonly caKeyPath: string;
  /** The CA certificate, PEM. */
  readonly caPem: string;
  /** Valid for `localhost` and IP 127.0.0.1, signed by the CA. */
  readonly server: TestCert;
  /** Valid only for `wrong.example`, signed by the same CA: the chain verifies, the hostname does not. */
  readonly wrongHost: TestCert;
}

/** The hostname of {@link TestPki.wrongHost}. */
export const WRONG_HOSTNAME = "wrong.example";

/** Runs one openssl command; throws with its output on failure. */
async function openssl(args: readonly string[], cwd: string): Promise<void> {
  const result = await run("openssl", requireBinary("openssl"), args, { cwd, timeoutMs: 20_000 });
  if (result.code !== 0) throw new Error(`openssl ${args.join(" ")} failed (status ${String(result.code ?? result.signal)}):\n${result.output}`);
}

/** A random positive serial, so two PKIs never issue the same (issuer, serial) and no serial file is needed. */
function serial(): string {
  const bytes = randomBytes(8);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return `0x${bytes.toString("hex")}`;
}

/** Issues a leaf certificate signed by the CA in `dir`. */
async function issueLeaf(dir: string, name: string, commonName: string, dnsNames: readonly string[], ips: readonly string[]): Promise<TestCert> {
  const keyPath = join(dir, `${name}.key`);
  const csrPath = join(dir, `${name}.csr`);
  const certPath = join(dir, `${name}.pem`);
  const extPath = join(dir, `${name}.ext`);
  const san = [...dnsNames.map((dns) => `DNS:${dns}`), ...ips.map((ip) => `IP:${ip}`)].join(",");
  await writeFile(
    extPath,
    ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth", `subjectAltName=${san}`, ""].join("\n"),
  );
  await openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyPath, "-out", csrPath, "-subj", `/CN=${commonName}`], dir);
  await openssl(
    ["x509", "-req", "-in", csrPath, "-CA", join(dir, "ca.pem"), "-CAkey", join(dir, "ca.key"), "-set_serial", serial(), "-days", "30", "-sha256", "-extfile", extPath, "-out", certPath],
    dir,
  );
  return { certPath, keyPath, certPem: await readFile(certPath, "utf8"), dnsNames, ips };
}

/**
 * Generates a test CA and two leaf certificates in `dir` (created if missing).
 * Takes about 0.1 s. Commands, for the record:
 *
 *     openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
 *       -keyout ca.key -out ca.pem -days 30 -subj "/CN=golive test CA" \
 *       -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
 *     openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
 *       -keyout server.key -out server.csr -subj /CN=localhost
 *     openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 0x... \
 *       -days 30 -sha256 -extfile server.ext -out server.pem
 *       (server.ext: subjectAltName=DNS:localhost,IP:127.0.0.1, serverAuth)
 *     ... and the same for wrong-host.pem with subjectAltName=DNS:wrong.example
 */
export async function makeTestPki(dir: string): Promise<TestPki> {
  await mkdir(dir, { recursive: true });
  const caKeyPath = join(dir, "ca.key");
  const caCertPath = join(dir, "ca.pem");
  await openssl(
    [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", caKeyPath, "-out", caCertPath, "-days", "30", "-sha256", "-set_serial", serial(),
      "-subj", "/CN=golive test CA",
      "-addext", "basicConstraints=critical,CA:TRUE",
      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ],
    dir,
  );
  const server = await issueLeaf(dir, "server", "localhost", ["localhost"], ["127.0.0.1"]);
  const wrongHost = await issueLeaf(dir, "wrong-host", WRONG_HOSTNAME, [WRONG_HOSTNAME], []);
  return { dir, caCertPath, caKeyPath, caPem: await readFile(caCertPath, "utf8"), server, wrongHost };
}
