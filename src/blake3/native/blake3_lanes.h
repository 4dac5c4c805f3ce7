/*
 * storeswarm BLAKE3 native kernel — lane-parallel compression template.
 *
 * Included by blake3_native.c once per instruction set. Before each inclusion the
 * includer defines:
 *
 *   SFX            suffix of the generated function names (e.g. avx512)
 *   LANES          inputs compressed side by side (1, 4, 8 or 16)
 *   VEC            vector type holding one 32-bit state word of every lane
 *   ATTR           function attributes (target ISA), may be empty
 *   V_ADD V_XOR    lane-wise 32-bit add / xor
 *   V_SET1(x)      broadcast
 *   V_LOADU(p)     load LANES uint32_t from p (any alignment)
 *   V_STOREU(p,v)  store LANES uint32_t to p (any alignment)
 *   V_ROTR16 V_ROTR12 V_ROTR8 V_ROTR7   lane-wise rotate right
 *   UNROLL_ROUNDS  1 to unroll the 7 rounds fully (constant message indices), 0 to keep
 *                  the loop (GCC's AVX2 code is faster that way: 16 registers spill anyway)
 *
 * and the functions
 *   load_msg_<SFX>(const uint8_t *in, size_t stride, size_t off, VEC m[16]): m[w] = message
 *       word w (little-endian) of the 64-byte block at `in + l * stride + off`, for each lane l
 *       ("transposed" layout);
 *   load_pairs_<SFX>(const uint32_t *p, VEC *even, VEC *odd): lane l of *even = p[2l], of
 *       *odd = p[2l + 1] (reads 2 * LANES words).
 *
 * State layout (content-addressing.md §2.1): vector v[i] holds state word i of every
 * lane; each lane has its own 64-bit counter. No include guard on purpose.
 */

#define B3_CAT_(a, b) a##_##b
#define B3_CAT(a, b) B3_CAT_(a, b)
#define FN(name) B3_CAT(name, SFX)

/* Half of four G functions at once: a += b + x; d = rotr(d ^ a); c += d; b = rotr(b ^ c). */
#define B3_HALF(a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3, x0, x1, x2, x3, RA, RB) \
  do { \
    v[a0] = V_ADD(V_ADD(v[a0], v[b0]), m[x0]); \
    v[a1] = V_ADD(V_ADD(v[a1], v[b1]), m[x1]); \
    v[a2] = V_ADD(V_ADD(v[a2], v[b2]), m[x2]); \
    v[a3] = V_ADD(V_ADD(v[a3], v[b3]), m[x3]); \
    v[d0] = RA(V_XOR(v[d0], v[a0])); \
    v[d1] = RA(V_XOR(v[d1], v[a1])); \
    v[d2] = RA(V_XOR(v[d2], v[a2])); \
    v[d3] = RA(V_XOR(v[d3], v[a3])); \
    v[c0] = V_ADD(v[c0], v[d0]); \
    v[c1] = V_ADD(v[c1], v[d1]); \
    v[c2] = V_ADD(v[c2], v[d2]); \
    v[c3] = V_ADD(v[c3], v[d3]); \
    v[b0] = RB(V_XOR(v[b0], v[c0])); \
    v[b1] = RB(V_XOR(v[b1], v[c1])); \
    v[b2] = RB(V_XOR(v[b2], v[c2])); \
    v[b3] = RB(V_XOR(v[b3], v[c3])); \
  } while (0)

ATTR static inline __attribute__((always_inline)) void FN(b3_round)(VEC *v, const VEC *m, const uint8_t *s) {
  /* columns */
  B3_HALF(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, s[0], s[2], s[4], s[6], V_ROTR16, V_ROTR12);
  B3_HALF(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, s[1], s[3], s[5], s[7], V_ROTR8, V_ROTR7);
  /* diagonals */
  B3_HALF(0, 1, 2, 3, 5, 6, 7, 4, 10, 11, 8, 9, 15, 12, 13, 14, s[8], s[10], s[12], s[14], V_ROTR16, V_ROTR12);
  B3_HALF(0, 1, 2, 3, 5, 6, 7, 4, 10, 11, 8, 9, 15, 12, 13, 14, s[9], s[11], s[13], s[15], V_ROTR8, V_ROTR7);
}

/* One compression of LANES blocks from chaining values h (updated in place), key = IV. */
ATTR static inline __attribute__((always_inline)) void FN(b3_compress)(VEC h[8], const VEC m[16],
                                                                      VEC counter_lo, VEC counter_hi,
                                                                      uint32_t flags) {
  VEC v[16] = {
    h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
    V_SET1(B3_IV0), V_SET1(B3_IV1), V_SET1(B3_IV2), V_SET1(B3_IV3),
    counter_lo, counter_hi, V_SET1(B3_BLOCK_LEN), V_SET1(flags)
  };
#if UNROLL_ROUNDS
  B3_UNROLL7
#endif
  for (size_t r = 0; r < 7; r++) FN(b3_round)(v, m, B3_MSG_SCHEDULE[r]);
  for (size_t i = 0; i < 8; i++) h[i] = V_XOR(v[i], v[i + 8]);
}

/*
 * Chaining values of LANES consecutive complete chunks at `in` (chunk l at in + 1024 l,
 * chunk counter `counter + l`). Word w of chunk l's CV is stored at cv[w * row + l]
 * ("structure of arrays": one row of `row` words per CV word).
 */
ATTR static void FN(chunks)(const uint8_t *in, uint64_t counter, uint32_t *cv, size_t row) {
  uint32_t lo[LANES], hi[LANES];
  for (size_t l = 0; l < LANES; l++) {
    uint64_t c = counter + (uint64_t)l;
    lo[l] = (uint32_t)c;
    hi[l] = (uint32_t)(c >> 32);
  }
  const VEC counter_lo = V_LOADU(lo);
  const VEC counter_hi = V_LOADU(hi);
  VEC h[8] = {
    V_SET1(B3_IV0), V_SET1(B3_IV1), V_SET1(B3_IV2), V_SET1(B3_IV3),
    V_SET1(B3_IV4), V_SET1(B3_IV5), V_SET1(B3_IV6), V_SET1(B3_IV7)
  };
  for (size_t b = 0; b < B3_BLOCKS_PER_CHUNK; b++) {
    VEC m[16];
    FN(load_msg)(in, B3_CHUNK_LEN, b * B3_BLOCK_LEN, m);
    uint32_t f = 0;
    if (b == 0) f |= B3_CHUNK_START;
    if (b + 1 == B3_BLOCKS_PER_CHUNK) f |= B3_CHUNK_END;
    FN(b3_compress)(h, m, counter_lo, counter_hi, f);
  }
  for (size_t w = 0; w < 8; w++) V_STOREU(cv + w * row, h[w]);
}

/*
 * LANES parents, structure-of-arrays like FN(chunks): the children of parent l are the CVs
 * at columns 2l and 2l + 1 of `in` (rows of `row` words); the parent CV goes to column l of
 * `out`. Every input word is read before anything is written, so `out` may be `in` (a level
 * reduced in place).
 */
ATTR static void FN(parents)(const uint32_t *in, uint32_t *out, size_t row) {
  VEC m[16];
  for (size_t w = 0; w < 8; w++) FN(load_pairs)(in + w * row, &m[w], &m[8 + w]);
  VEC h[8] = {
    V_SET1(B3_IV0), V_SET1(B3_IV1), V_SET1(B3_IV2), V_SET1(B3_IV3),
    V_SET1(B3_IV4), V_SET1(B3_IV5), V_SET1(B3_IV6), V_SET1(B3_IV7)
  };
  FN(b3_compress)(h, m, V_SET1(0), V_SET1(0), B3_PARENT);
  for (size_t w = 0; w < 8; w++) V_STOREU(out + w * row, h[w]);
}

#undef B3_HALF
#undef FN
#undef B3_CAT
#undef B3_CAT_
