// Scalefactor band offsets of AAC-LC at 44.1 and 48 kHz (ISO/IEC 14496-3,
// Tables 4.129 (long, 1024 lines: 49 bands) and 4.130 (short, 128 lines: 14
// bands)); both rates share them. Facts of the standard; tested for
// monotonicity, band widths that are multiples of 4 and the last offset.

export const SWB_LONG_48: StaticArray<i32> = [
  0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48, 56, 64, 72, 80, 88, 96, 108, 120, 132, 144, 160, 176, 196, 216, 240, 264,
  292, 320, 352, 384, 416, 448, 480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800, 832, 864, 896, 928, 1024,
];

export const SWB_SHORT_48: StaticArray<i32> = [0, 4, 8, 12, 16, 20, 28, 36, 44, 56, 68, 80, 96, 112, 128];

export const NUM_SWB_LONG: i32 = 49;
export const NUM_SWB_SHORT: i32 = 14;

// Window sequences (Table 4.44) and syntactic element ids (Table 4.85).
export const ONLY_LONG: i32 = 0;
export const LONG_START: i32 = 1;
export const EIGHT_SHORT: i32 = 2;
export const LONG_STOP: i32 = 3;

export const ID_SCE: i32 = 0;
export const ID_CPE: i32 = 1;
export const ID_FIL: i32 = 6;
export const ID_END: i32 = 7;
