/**
 * A streaming reader for the one Matroska/WebM shape MediaRecorder writes
 * live (Matroska v4, EBML RFC 8794 / RFC 9559): a Segment and Clusters of
 * unknown size, Tracks up front, frames in SimpleBlocks (or Blocks in
 * BlockGroups). Each frame is handed over the moment its block's last byte
 * arrives, not when the next Cluster starts (what a general demuxer waiting
 * for a Cluster's end does: ~1 s late for MediaRecorder's clusters).
 *
 * Pure: bytes in (split anywhere), tracks and frames out through callbacks;
 * no I/O, no clock. Lacing, which MediaRecorder does not use for video, is
 * refused with an error; elements it does not need are skipped unread.
 */

/** A track, once its TrackEntry is complete. */
export interface WebmTrack {
  number: number;
  /** e.g. "V_MPEG4/ISO/AVC", "A_OPUS". */
  codecId: string;
  codecPrivate?: Uint8Array;
  width?: number;
  height?: number;
}

/** One frame. */
export interface WebmFrame {
  track: number;
  /** Cluster Timecode + the block's relative timecode, in ms (TimecodeScale applied). */
  timestampMs: number;
  key: boolean;
  data: Uint8Array;
}

export interface WebmCallbacks {
  onTrack(track: WebmTrack): void;
  onFrame(frame: WebmFrame): void;
}

/** A malformed or unsupported stream. */
export class WebmError extends Error {
  override readonly name = "WebmError";
}

const ID = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimecodeScale: 0x2ad7b1,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Cluster: 0x1f43b675,
  Timecode: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  ReferenceBlock: 0xfb,
} as const;

/** Masters we step into; everything else of known size is a leaf to read or skip. */
const MASTERS = new Set<number>([ID.Segment, ID.Info, ID.Tracks, ID.TrackEntry, ID.Video, ID.Cluster, ID.BlockGroup]);
/** Leaves whose payload we read (they must be complete in the buffer). */
const LEAVES = new Set<number>([ID.TimecodeScale, ID.TrackNumber, ID.CodecID, ID.CodecPrivate, ID.PixelWidth, ID.PixelHeight, ID.Timecode, ID.SimpleBlock, ID.Block, ID.ReferenceBlock]);
/** Elements that can only be children of the Segment: they end an unknown-size Cluster. */
const SEGMENT_CHILDREN = new Set<number>([ID.Cluster, ID.Info, ID.Tracks, 0x1c53bb6b /* Cues */, 0x1254c367 /* Tags */, 0x114d9b74 /* SeekHead */, 0x1043a770 /* Chapters */, 0x1941a469 /* Attachments */]);
/** Largest leaf read whole (a video frame), bytes. */
const MAX_LEAF = 64 * 1024 * 1024;

interface Open {
  id: number;
  /** Absolute end offset; Infinity for unknown size. */
  end: number;
}

export class WebmLiveDemuxer {
  readonly #cb: WebmCallbacks;
  #buf = new Uint8Array(0);
  /** Absolute offset of #buf[0]. */
  #base = 0;
  /** Absolute parse position. */
  #pos = 0;
  /** Bytes of a skipped element still to drop. */
  #skip = 0;
  readonly #stack: Open[] = [];
  #timecodeScaleNs = 1_000_000;
  #clusterTimecode = 0;
  #track: Partial<WebmTrack> = {};
  #block: { data: Uint8Array; key: boolean } | undefined;

  constructor(callbacks: WebmCallbacks) {
    this.#cb = callbacks;
  }

  /** Takes the next bytes of the stream. Throws WebmError on a malformed one. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#skip > 0) {
      const drop = Math.min(this.#skip, bytes.length);
      this.#skip -= drop;
      this.#pos += drop;
      this.#base += drop;
      bytes = bytes.subarray(drop);
    }
    const joined = new Uint8Array(this.#buf.length + bytes.length);
    joined.set(this.#buf);
    joined.set(bytes, this.#buf.length);
    this.#buf = joined;
    this.#parse();
    // Keep only what is not parsed yet.
    const used = this.#pos - this.#base;
    if (used > 0) {
      this.#buf = this.#buf.slice(used);
      this.#base = this.#pos;
    }
  }

  #parse(): void {
    for (;;) {
      this.#closeEnded();
      if (this.#skip > 0) return;
      const at = this.#pos - this.#base;
      const id = readVint(this.#buf, at, true);
      if (!id) return;
      const size = readVint(this.#buf, at + id.length, false);
      if (!size) return;
      const headerLength = id.length + size.length;
      const unknown = size.value === -1;
      // An unknown-size Cluster ends where a Segment-level element starts.
      if (SEGMENT_CHILDREN.has(id.value)) {
        while (this.#stack.length > 0 && this.#stack[this.#stack.length - 1]!.id !== ID.Segment && this.#stack[this.#stack.length - 1]!.end === Infinity) this.#close(this.#stack.pop()!);
      }
      if (MASTERS.has(id.value)) {
        this.#pos += headerLength;
        this.#stack.push({ id: id.value, end: unknown ? Infinity : this.#pos + size.value });
        if (id.value === ID.TrackEntry) this.#track = {};
        if (id.value === ID.BlockGroup) this.#block = undefined;
        continue;
      }
      if (unknown) throw new WebmError(`element 0x${id.value.toString(16)} of unknown size is not a master element`);
      if (LEAVES.has(id.value)) {
        if (size.value > MAX_LEAF) throw new WebmError(`element 0x${id.value.toString(16)} of ${size.value} bytes is too large`);
        if (at + headerLength + size.value > this.#buf.length) return; // wait for the rest
        const payload = this.#buf.subarray(at + headerLength, at + headerLength + size.value);
        this.#pos += headerLength + size.value;
        this.#leaf(id.value, payload);
        continue;
      }
      // Not needed: skip it, across pushes if need be.
      const available = this.#buf.length - at - headerLength;
      if (available >= size.value) {
        this.#pos += headerLength + size.value;
        continue;
      }
      this.#pos += headerLength + available;
      this.#skip = size.value - available;
      return;
    }
  }

  #closeEnded(): void {
    while (this.#stack.length > 0 && this.#pos >= this.#stack[this.#stack.length - 1]!.end) this.#close(this.#stack.pop()!);
  }

  #close(open: Open): void {
    if (open.id === ID.TrackEntry) {
      const t = this.#track;
      if (t.number === undefined || t.codecId === undefined) throw new WebmError("a TrackEntry without TrackNumber or CodecID");
      this.#cb.onTrack({ number: t.number, codecId: t.codecId, ...(t.codecPrivate && { codecPrivate: t.codecPrivate }), ...(t.width !== undefined && { width: t.width }), ...(t.height !== undefined && { height: t.height }) });
    }
    if (open.id === ID.BlockGroup && this.#block) {
      this.#frame(this.#block.data, this.#block.key);
      this.#block = undefined;
    }
  }

  #leaf(id: number, p: Uint8Array): void {
    switch (id) {
      case ID.TimecodeScale:
        this.#timecodeScaleNs = readUint(p);
        return;
      case ID.TrackNumber:
        this.#track.number = readUint(p);
        return;
      case ID.CodecID:
        this.#track.codecId = String.fromCharCode(...p).replace(/\0+$/, "");
        return;
      case ID.CodecPrivate:
        this.#track.codecPrivate = p.slice();
        return;
      case ID.PixelWidth:
        this.#track.width = readUint(p);
        return;
      case ID.PixelHeight:
        this.#track.height = readUint(p);
        return;
      case ID.Timecode:
        this.#clusterTimecode = readUint(p);
        return;
      case ID.SimpleBlock:
        this.#frame(p, (p[blockHeaderLength(p) - 1]! & 0x80) !== 0);
        return;
      case ID.Block:
        // Key unless a ReferenceBlock follows in the group.
        this.#block = { data: p.slice(), key: true };
        return;
      case ID.ReferenceBlock:
        if (this.#block) this.#block.key = false;
        return;
    }
  }

  /** A (Simple)Block: track vint, int16 relative timecode, flags, frame. */
  #frame(p: Uint8Array, key: boolean): void {
    const track = readVint(p, 0, false);
    if (!track || p.length < track.length + 3) throw new WebmError("a block shorter than its header");
    const flags = p[track.length + 2]!;
    if ((flags & 0x06) !== 0) throw new WebmError("laced blocks are not supported");
    const relative = (p[track.length]! << 8) | p[track.length + 1]!;
    const signed = relative & 0x8000 ? relative - 0x10000 : relative;
    const timestampMs = ((this.#clusterTimecode + signed) * this.#timecodeScaleNs) / 1e6;
    this.#cb.onFrame({ track: track.value, timestampMs, key, data: p.slice(track.length + 3) });
  }
}

/** Length of a block's header (track vint + timecode + flags), for reading its flags. */
function blockHeaderLength(p: Uint8Array): number {
  const track = readVint(p, 0, false);
  if (!track || p.length < track.length + 3) throw new WebmError("a block shorter than its header");
  return track.length + 3;
}

/**
 * An EBML variable-length integer at `at` (RFC 8794 §4): the count of leading
 * zero bits of the first byte + 1 is its length. `keepMarker` for IDs
 * (which keep the length bits); sizes drop them, and all ones is "unknown"
 * (-1). Undefined when the buffer does not hold all of it yet.
 */
export function readVint(buf: Uint8Array, at: number, keepMarker: boolean): { value: number; length: number } | undefined {
  if (at >= buf.length) return undefined;
  const first = buf[at]!;
  if (first === 0) throw new WebmError("an EBML integer longer than 8 bytes");
  const length = Math.clz32(first) - 23;
  if (keepMarker && length > 4) throw new WebmError("an element ID longer than 4 bytes");
  if (at + length > buf.length) return undefined;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const b = buf[at + i]!;
    if (b !== 0xff) allOnes = false;
    value = value * 256 + b;
  }
  if (!keepMarker && allOnes) return { value: -1, length };
  return { value, length };
}

function readUint(p: Uint8Array): number {
  let v = 0;
  for (const b of p) v = v * 256 + b;
  return v;
}
