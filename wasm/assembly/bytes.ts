// Big-endian byte helpers. RTMP, AMF0 and FLV are big-endian except the RTMP
// message stream id (little-endian) and the 2/3-byte basic header csid.

// @ts-ignore: decorator
@inline export function put8(p: usize, v: u32): void { store<u8>(p, <u8>v); }

// @ts-ignore: decorator
@inline export function put16be(p: usize, v: u32): void {
  store<u8>(p, <u8>(v >> 8));
  store<u8>(p + 1, <u8>v);
}

// @ts-ignore: decorator
@inline export function put24be(p: usize, v: u32): void {
  store<u8>(p, <u8>(v >> 16));
  store<u8>(p + 1, <u8>(v >> 8));
  store<u8>(p + 2, <u8>v);
}

// @ts-ignore: decorator
@inline export function put32be(p: usize, v: u32): void { store<u32>(p, bswap<u32>(v)); }

// @ts-ignore: decorator
@inline export function put32le(p: usize, v: u32): void { store<u32>(p, v); }

// @ts-ignore: decorator
@inline export function putF64be(p: usize, v: f64): void {
  store<u64>(p, bswap<u64>(reinterpret<u64>(v)));
}

// @ts-ignore: decorator
@inline export function get8(p: usize): u32 { return <u32>load<u8>(p); }

// @ts-ignore: decorator
@inline export function get16be(p: usize): u32 {
  return (<u32>load<u8>(p) << 8) | <u32>load<u8>(p + 1);
}

// @ts-ignore: decorator
@inline export function get24be(p: usize): u32 {
  return (<u32>load<u8>(p) << 16) | (<u32>load<u8>(p + 1) << 8) | <u32>load<u8>(p + 2);
}

// @ts-ignore: decorator
@inline export function get32be(p: usize): u32 { return bswap<u32>(load<u32>(p)); }

// @ts-ignore: decorator
@inline export function get32le(p: usize): u32 { return load<u32>(p); }

// @ts-ignore: decorator
@inline export function getF64be(p: usize): f64 { return reinterpret<f64>(bswap<u64>(load<u64>(p))); }
