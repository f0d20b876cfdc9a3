/**
 * Which network addresses the bridge may open RTMP connections to. The bridge
 * connects on a browser's behalf, so by default it refuses addresses that
 * reach this machine or its private networks (an SSRF guard): loopback,
 * RFC 1918 private, link-local (incl. cloud metadata 169.254.169.254), CGNAT,
 * unspecified, multicast/reserved, and their IPv6 forms: IPv4-mapped,
 * IPv4-compatible, IPv4-translated, NAT64 and 6to4 spellings of those IPv4
 * ranges too. `--allow-private` lifts it (local ingest servers).
 *
 * The check runs on the address actually connected to (after DNS), so a name
 * that resolves to loopback, or re-resolves to it, is caught as well.
 */
import net from "node:net";
import { GoliveError } from "../../protocol/errors.js";

const blocked = new net.BlockList();

/**
 * Blocks an IPv4 range, and the same range inside 6to4 addresses
 * (2002:AABB:CCDD::/16+n, RFC 3056), which a host with a 6to4 route sends to
 * that IPv4 address. (IPv4-mapped ::ffff:a.b.c.d is matched by BlockList
 * itself against the IPv4 rules.)
 */
function blockIpv4(address: string, prefix: number): void {
  blocked.addSubnet(address, prefix, "ipv4");
  const [a, b, c, d] = address.split(".").map(Number) as [number, number, number, number];
  const hex = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);
  blocked.addSubnet(`2002:${hex(a, b)}:${hex(c, d)}::`, 16 + prefix, "ipv6");
}

// IPv4
blockIpv4("0.0.0.0", 8); // "this network", unspecified
blockIpv4("10.0.0.0", 8); // RFC 1918
blockIpv4("100.64.0.0", 10); // CGNAT (RFC 6598)
blockIpv4("127.0.0.0", 8); // loopback
blockIpv4("169.254.0.0", 16); // link-local, cloud metadata
blockIpv4("172.16.0.0", 12); // RFC 1918
blockIpv4("192.0.0.0", 24); // IETF protocol assignments
blockIpv4("192.168.0.0", 16); // RFC 1918
blockIpv4("198.18.0.0", 15); // benchmarking
blockIpv4("224.0.0.0", 4); // multicast
blockIpv4("240.0.0.0", 4); // reserved, broadcast
// IPv6
blocked.addSubnet("::", 96, "ipv6"); // unspecified, loopback, IPv4-compatible (deprecated; ::7f00:1 is ::127.0.0.1)
blocked.addSubnet("::ffff:0:0:0", 96, "ipv6"); // IPv4-translated (RFC 2765): refuse rather than decode
blocked.addSubnet("fc00::", 7, "ipv6"); // unique local
blocked.addSubnet("fe80::", 10, "ipv6"); // link-local
blocked.addSubnet("fec0::", 10, "ipv6"); // site-local (deprecated, still private)
blocked.addSubnet("ff00::", 8, "ipv6"); // multicast
blocked.addSubnet("64:ff9b::", 96, "ipv6"); // NAT64 (embeds IPv4): refuse rather than decode
blocked.addSubnet("64:ff9b:1::", 48, "ipv6"); // local-use NAT64 (RFC 8215)
blocked.addSubnet("2001:db8::", 32, "ipv6"); // documentation

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d, any spelling), if any. */
function embeddedIpv4(address: string): string | undefined {
  const m = /^(?:0{0,4}:){1,5}ffff:((?:\d{1,3}\.){3}\d{1,3})$/i.exec(address);
  if (m) return m[1];
  const hex = /^(?:0{0,4}:){1,5}ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
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

/**
 * The destination-address check given to RTMP publishers. The refusal does
 * not name the address: a client must not learn what a name resolves to
 * inside the bridge's network; `onRefused` (the bridge's log) gets it.
 */
export function addressGuard(allowPrivate: boolean, onRefused?: (address: string) => void): ((address: string) => void) | undefined {
  if (allowPrivate) return undefined;
  return (address: string) => {
    if (isPrivateAddress(address)) {
      onRefused?.(address);
      throw new GoliveError(
        "DEST_NOT_ALLOWED",
        "the destination is not allowed: its address is on a loopback/private/link-local network the bridge does not connect to (start golive serve with --allow-private to allow it)",
      );
    }
  };
}
