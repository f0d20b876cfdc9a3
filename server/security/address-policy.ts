/**
 * Which network addresses the bridge may open RTMP connections to. The bridge
 * connects on a browser's behalf, so by default it refuses addresses that
 * reach this machine or its private networks (an SSRF guard): loopback,
 * RFC 1918 private, link-local (incl. cloud metadata 169.254.169.254), CGNAT,
 * unspecified, multicast/reserved, and their IPv6 forms including
 * IPv4-mapped addresses. `--allow-private` lifts it (local ingest servers).
 *
 * The check runs on the address actually connected to (after DNS), so a name
 * that resolves to loopback, or re-resolves to it, is caught as well.
 */
import net from "node:net";
import { GoliveError } from "../../protocol/errors.js";

const blocked = new net.BlockList();
// IPv4
blocked.addSubnet("0.0.0.0", 8, "ipv4"); // "this network", unspecified
blocked.addSubnet("10.0.0.0", 8, "ipv4"); // RFC 1918
blocked.addSubnet("100.64.0.0", 10, "ipv4"); // CGNAT (RFC 6598)
blocked.addSubnet("127.0.0.0", 8, "ipv4"); // loopback
blocked.addSubnet("169.254.0.0", 16, "ipv4"); // link-local, cloud metadata
blocked.addSubnet("172.16.0.0", 12, "ipv4"); // RFC 1918
blocked.addSubnet("192.0.0.0", 24, "ipv4"); // IETF protocol assignments
blocked.addSubnet("192.168.0.0", 16, "ipv4"); // RFC 1918
blocked.addSubnet("198.18.0.0", 15, "ipv4"); // benchmarking
blocked.addSubnet("224.0.0.0", 4, "ipv4"); // multicast
blocked.addSubnet("240.0.0.0", 4, "ipv4"); // reserved, broadcast
// IPv6
blocked.addAddress("::", "ipv6"); // unspecified
blocked.addAddress("::1", "ipv6"); // loopback
blocked.addSubnet("fc00::", 7, "ipv6"); // unique local
blocked.addSubnet("fe80::", 10, "ipv6"); // link-local
blocked.addSubnet("ff00::", 8, "ipv6"); // multicast
blocked.addSubnet("64:ff9b::", 96, "ipv6"); // NAT64 (embeds IPv4): refuse rather than decode
blocked.addSubnet("2001:db8::", 32, "ipv6"); // documentation

/** The IPv4 address inside an IPv4-mapped/compatible IPv6 address, if any. */
function embeddedIpv4(address: string): string | undefined {
  const m = /^(?:0{0,4}:){0,5}(?:ffff:)?((?:\d{1,3}\.){3}\d{1,3})$/i.exec(address) ?? /^::ffff:((?:\d{1,3}\.){3}\d{1,3})$/i.exec(address);
  if (m) return m[1];
  // ::ffff:7f00:1 written in hex
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return undefined;
}

/** True when `address` (an IP literal) is loopback, private, link-local, etc. */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blocked.check(address, "ipv4");
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== undefined) return blocked.check(v4, "ipv4");
    return blocked.check(address, "ipv6");
  }
  return true; // not an IP literal: refuse (callers pass resolved addresses)
}

/** The destination-address check given to RTMP publishers. */
export function addressGuard(allowPrivate: boolean): ((address: string) => void) | undefined {
  if (allowPrivate) return undefined;
  return (address: string) => {
    if (isPrivateAddress(address)) {
      throw new GoliveError(
        "DEST_NOT_ALLOWED",
        `the destination resolves to ${address}, a loopback/private/link-local address the bridge does not connect to (start golive serve with --allow-private to allow it)`,
      );
    }
  };
}
