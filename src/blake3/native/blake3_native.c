/*
 * storeswarm BLAKE3 chunk-group kernel, native (Node-API addon).
 *
 * groupCVs(data, firstChunk, out[, level]): the non-root chaining values of
 * complete 16 KiB chunk groups (2^4 chunks of 1024 bytes), hash mode
 * (key = IV), working directly on the caller's memory. Spec:
 * shared/specs/content-addressing.md §2.1 (compression, flags), §2.3 (group
 * CV = 16 chunk CVs, then the 15 parents of the group's subtree), §3.5 item 4.
 *
 * Chunks are compressed many at a time, one chunk per vector lane ("transposed"
 * state, per-lane 64-bit chunk counters): 16 lanes with AVX-512, 8 with AVX2,
 * 4 with SSE2, else one at a time. Chunk CVs are kept in structure-of-arrays
 * form (one row per CV word, one column per chunk of a batch of up to 16
 * groups), so a lane-parallel pass stores them without transposing, and the
 * parents of a level are compressed lane-parallel too: parent q takes columns
 * 2q and 2q + 1 (an even/odd split of two vector loads) and goes to column q.
 *
 * The wide paths are compiled with per-function target attributes and chosen
 * at run time (__builtin_cpu_supports), so the file builds with plain -O3 and
 * runs on any x86-64; on other architectures only the portable path exists.
 * Build: binding.gyp at the repository root (scripts/build-native.mjs).
 */

#define NAPI_VERSION 6
#include <node_api.h>

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#define B3_X86 1
#include <immintrin.h>
#else
#define B3_X86 0
#endif

/* §2.1 constants */
#define B3_BLOCK_LEN 64u
#define B3_CHUNK_LEN 1024u
#define B3_GROUP_CHUNKS 16u
#define B3_GROUP_LEN (B3_GROUP_CHUNKS * B3_CHUNK_LEN)
#define B3_BLOCKS_PER_CHUNK (B3_CHUNK_LEN / B3_BLOCK_LEN)
#define B3_OUT_LEN 32u

#define B3_CHUNK_START 1u
#define B3_CHUNK_END 2u
#define B3_PARENT 4u

#define B3_IV0 0x6a09e667u
#define B3_IV1 0xbb67ae85u
#define B3_IV2 0x3c6ef372u
#define B3_IV3 0xa54ff53au
#define B3_IV4 0x510e527fu
#define B3_IV5 0x9b05688cu
#define B3_IV6 0x1f83d9abu
#define B3_IV7 0x5be0cd19u

#if defined(__clang__)
#define B3_UNROLL7 _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define B3_UNROLL7 _Pragma("GCC unroll 7")
#else
#define B3_UNROLL7
#endif

/* Groups per batch: 256 chunk CVs (8 KiB of scratch); every parent level of a full
 * batch (128, 64, 32, 16 parents) is a whole number of 16-lane passes. */
#define B3_BATCH_GROUPS 16u

/* Dispatch levels (also the optional 4th argument of groupCVs). */
#define B3_LEVEL_SCALAR 0
#define B3_LEVEL_SSE2 1
#define B3_LEVEL_AVX2 2
#define B3_LEVEL_AVX512 3

/* Message word order of round r: the permutation [2,6,3,10,7,0,4,13,1,11,12,5,9,14,15,8]
 * applied r times (§2.1). */
static const uint8_t B3_MSG_SCHEDULE[7][16] = {
  {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
  {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
  {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
  {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
  {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
  {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
  {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline uint32_t b3_load_le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void b3_store_le32(uint8_t *p, uint32_t w) {
  p[0] = (uint8_t)w;
  p[1] = (uint8_t)(w >> 8);
  p[2] = (uint8_t)(w >> 16);
  p[3] = (uint8_t)(w >> 24);
}

static inline uint32_t b3_rotr32(uint32_t x, unsigned n) {
  return (x >> n) | (x << (32u - n));
}

/* ---- portable: one input at a time ------------------------------------ */

static inline void load_msg_scalar(const uint8_t *in, size_t stride, size_t off, uint32_t m[16]) {
  (void)stride;
  for (size_t w = 0; w < 16; w++) m[w] = b3_load_le32(in + off + 4 * w);
}

static inline void load_pairs_scalar(const uint32_t *p, uint32_t *even, uint32_t *odd) {
  *even = p[0];
  *odd = p[1];
}

#define SFX scalar
#define UNROLL_ROUNDS 1
#define LANES 1
#define VEC uint32_t
#define ATTR
#define V_ADD(a, b) ((uint32_t)((a) + (b)))
#define V_XOR(a, b) ((a) ^ (b))
#define V_SET1(x) ((uint32_t)(x))
#define V_LOADU(p) (*(p))
#define V_STOREU(p, x) (*(p) = (x))
#define V_ROTR16(x) b3_rotr32((x), 16)
#define V_ROTR12(x) b3_rotr32((x), 12)
#define V_ROTR8(x) b3_rotr32((x), 8)
#define V_ROTR7(x) b3_rotr32((x), 7)
#include "blake3_lanes.h"
#undef SFX
#undef UNROLL_ROUNDS
#undef LANES
#undef VEC
#undef ATTR
#undef V_ADD
#undef V_XOR
#undef V_SET1
#undef V_LOADU
#undef V_STOREU
#undef V_ROTR16
#undef V_ROTR12
#undef V_ROTR8
#undef V_ROTR7

#if B3_X86

/* ---- SSE2: 4 lanes ------------------------------------------------------ */

#define B3_SSE2 __attribute__((target("sse2")))

/* 4x4 transpose of 32-bit words: r[l] = words of lane l → r[w] = word w of all lanes. */
B3_SSE2 static inline __attribute__((always_inline)) void b3_transpose4_sse2(__m128i r[4]) {
  __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]);
  __m128i t1 = _mm_unpackhi_epi32(r[0], r[1]);
  __m128i t2 = _mm_unpacklo_epi32(r[2], r[3]);
  __m128i t3 = _mm_unpackhi_epi32(r[2], r[3]);
  r[0] = _mm_unpacklo_epi64(t0, t2);
  r[1] = _mm_unpackhi_epi64(t0, t2);
  r[2] = _mm_unpacklo_epi64(t1, t3);
  r[3] = _mm_unpackhi_epi64(t1, t3);
}

B3_SSE2 static inline __attribute__((always_inline)) void load_msg_sse2(const uint8_t *in, size_t stride, size_t off, __m128i m[16]) {
  for (size_t q = 0; q < 4; q++) {
    __m128i r[4];
    for (size_t l = 0; l < 4; l++) r[l] = _mm_loadu_si128((const __m128i *)(in + l * stride + off + 16 * q));
    b3_transpose4_sse2(r);
    for (size_t w = 0; w < 4; w++) m[4 * q + w] = r[w];
  }
}

B3_SSE2 static inline __attribute__((always_inline)) void load_pairs_sse2(const uint32_t *p, __m128i *even, __m128i *odd) {
  __m128 a = _mm_castsi128_ps(_mm_loadu_si128((const __m128i *)p));
  __m128 b = _mm_castsi128_ps(_mm_loadu_si128((const __m128i *)(p + 4)));
  *even = _mm_castps_si128(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
  *odd = _mm_castps_si128(_mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

#define SFX sse2
#define UNROLL_ROUNDS 1
#define LANES 4
#define VEC __m128i
#define ATTR B3_SSE2
#define V_ADD(a, b) _mm_add_epi32((a), (b))
#define V_XOR(a, b) _mm_xor_si128((a), (b))
#define V_SET1(x) _mm_set1_epi32((int)(x))
#define V_LOADU(p) _mm_loadu_si128((const __m128i *)(p))
#define V_STOREU(p, x) _mm_storeu_si128((__m128i *)(p), (x))
#define V_ROTR16(x) _mm_shufflehi_epi16(_mm_shufflelo_epi16((x), 0xB1), 0xB1)
#define V_ROTR12(x) _mm_or_si128(_mm_srli_epi32((x), 12), _mm_slli_epi32((x), 20))
#define V_ROTR8(x) _mm_or_si128(_mm_srli_epi32((x), 8), _mm_slli_epi32((x), 24))
#define V_ROTR7(x) _mm_or_si128(_mm_srli_epi32((x), 7), _mm_slli_epi32((x), 25))
#include "blake3_lanes.h"
#undef SFX
#undef UNROLL_ROUNDS
#undef LANES
#undef VEC
#undef ATTR
#undef V_ADD
#undef V_XOR
#undef V_SET1
#undef V_LOADU
#undef V_STOREU
#undef V_ROTR16
#undef V_ROTR12
#undef V_ROTR8
#undef V_ROTR7

/* ---- AVX2: 8 lanes ------------------------------------------------------ */

#define B3_AVX2 __attribute__((target("avx2")))

/* 8x8 transpose of 32-bit words. */
B3_AVX2 static inline __attribute__((always_inline)) void b3_transpose8_avx2(__m256i r[8]) {
  __m256i t[8], u[8];
  for (size_t i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (size_t i = 0; i < 2; i++) {
    u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  /* u[4i + j], 128-bit half k = word 4k + j of lanes 4i..4i+3 */
  for (size_t j = 0; j < 4; j++) {
    r[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
    r[4 + j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
  }
}

B3_AVX2 static inline __attribute__((always_inline)) void load_msg_avx2(const uint8_t *in, size_t stride, size_t off, __m256i m[16]) {
  for (size_t half = 0; half < 2; half++) {
    __m256i r[8];
    for (size_t l = 0; l < 8; l++) r[l] = _mm256_loadu_si256((const __m256i *)(in + l * stride + off + 32 * half));
    b3_transpose8_avx2(r);
    for (size_t w = 0; w < 8; w++) m[8 * half + w] = r[w];
  }
}

B3_AVX2 static inline __attribute__((always_inline)) void load_pairs_avx2(const uint32_t *p, __m256i *even, __m256i *odd) {
  __m256 a = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)p));
  __m256 b = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(p + 8)));
  /* per 128-bit half: [a0 a2 b0 b2 | a4 a6 b4 b6]; then 64-bit pieces reordered 0, 2, 1, 3 */
  *even = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8);
  *odd = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8);
}

#define SFX avx2
/* measured on Zen 4: clang is fastest with the rounds unrolled, GCC with the loop kept */
#if defined(__clang__)
#define UNROLL_ROUNDS 1
#else
#define UNROLL_ROUNDS 0
#endif
#define LANES 8
#define VEC __m256i
#define ATTR B3_AVX2
#define V_ADD(a, b) _mm256_add_epi32((a), (b))
#define V_XOR(a, b) _mm256_xor_si256((a), (b))
#define V_SET1(x) _mm256_set1_epi32((int)(x))
#define V_LOADU(p) _mm256_loadu_si256((const __m256i *)(p))
#define V_STOREU(p, x) _mm256_storeu_si256((__m256i *)(p), (x))
#define V_ROTR16(x) _mm256_shuffle_epi8((x), _mm256_set_epi8( \
  13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2, \
  13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2))
#define V_ROTR12(x) _mm256_or_si256(_mm256_srli_epi32((x), 12), _mm256_slli_epi32((x), 20))
#define V_ROTR8(x) _mm256_shuffle_epi8((x), _mm256_set_epi8( \
  12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1, \
  12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1))
#define V_ROTR7(x) _mm256_or_si256(_mm256_srli_epi32((x), 7), _mm256_slli_epi32((x), 25))
#include "blake3_lanes.h"
#undef SFX
#undef UNROLL_ROUNDS
#undef LANES
#undef VEC
#undef ATTR
#undef V_ADD
#undef V_XOR
#undef V_SET1
#undef V_LOADU
#undef V_STOREU
#undef V_ROTR16
#undef V_ROTR12
#undef V_ROTR8
#undef V_ROTR7

/* ---- AVX-512: 16 lanes -------------------------------------------------- */

#define B3_AVX512 __attribute__((target("avx512f,avx512vl")))

/* 16x16 transpose of 32-bit words. */
B3_AVX512 static inline __attribute__((always_inline)) void b3_transpose16_avx512(__m512i r[16]) {
  __m512i t[16], u[16];
  for (size_t i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (size_t i = 0; i < 4; i++) {
    u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  /* u[4i + j], 128-bit block k = word 4k + j of lanes 4i..4i+3: transpose the 4x4
   * matrix of 128-bit blocks (u[j], u[4+j], u[8+j], u[12+j]) for each j. */
  for (size_t j = 0; j < 4; j++) {
    __m512i b0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
    __m512i b1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
    __m512i b2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
    __m512i b3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
    r[j] = _mm512_shuffle_i32x4(b0, b2, 0x88);
    r[4 + j] = _mm512_shuffle_i32x4(b0, b2, 0xDD);
    r[8 + j] = _mm512_shuffle_i32x4(b1, b3, 0x88);
    r[12 + j] = _mm512_shuffle_i32x4(b1, b3, 0xDD);
  }
}

B3_AVX512 static inline __attribute__((always_inline)) void load_msg_avx512(const uint8_t *in, size_t stride, size_t off, __m512i m[16]) {
  for (size_t l = 0; l < 16; l++) m[l] = _mm512_loadu_si512((const void *)(in + l * stride + off));
  b3_transpose16_avx512(m);
}

B3_AVX512 static inline __attribute__((always_inline)) void load_pairs_avx512(const uint32_t *p, __m512i *even, __m512i *odd) {
  const __m512i a = _mm512_loadu_si512((const void *)p);
  const __m512i b = _mm512_loadu_si512((const void *)(p + 16));
  *even = _mm512_permutex2var_epi32(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b);
  *odd = _mm512_permutex2var_epi32(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), b);
}

#define SFX avx512
#define UNROLL_ROUNDS 1
#define LANES 16
#define VEC __m512i
#define ATTR B3_AVX512
#define V_ADD(a, b) _mm512_add_epi32((a), (b))
#define V_XOR(a, b) _mm512_xor_si512((a), (b))
#define V_SET1(x) _mm512_set1_epi32((int)(x))
#define V_LOADU(p) _mm512_loadu_si512((const void *)(p))
#define V_STOREU(p, x) _mm512_storeu_si512((void *)(p), (x))
#define V_ROTR16(x) _mm512_ror_epi32((x), 16)
#define V_ROTR12(x) _mm512_ror_epi32((x), 12)
#define V_ROTR8(x) _mm512_ror_epi32((x), 8)
#define V_ROTR7(x) _mm512_ror_epi32((x), 7)
#include "blake3_lanes.h"
#undef SFX
#undef UNROLL_ROUNDS
#undef LANES
#undef VEC
#undef ATTR
#undef V_ADD
#undef V_XOR
#undef V_SET1
#undef V_LOADU
#undef V_STOREU
#undef V_ROTR16
#undef V_ROTR12
#undef V_ROTR8
#undef V_ROTR7

#endif /* B3_X86 */

/* ---- dispatch ------------------------------------------------------------ */

static int b3_detect_level(void) {
#if B3_X86
  __builtin_cpu_init();
  /* the AVX-512 level also runs AVX2 passes for remainders */
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2")) {
    return B3_LEVEL_AVX512;
  }
  if (__builtin_cpu_supports("avx2")) return B3_LEVEL_AVX2;
  if (__builtin_cpu_supports("sse2")) return B3_LEVEL_SSE2;
#endif
  return B3_LEVEL_SCALAR;
}

/* Words per row of the structure-of-arrays CV scratch: one column per chunk of a batch. */
#define B3_ROW (B3_BATCH_GROUPS * B3_GROUP_CHUNKS)

/* CVs of `n` consecutive chunks at `in` (first counter `counter`) into columns 0..n-1 of `cv`,
 * widest passes first. */
static void b3_chunks_many(int level, const uint8_t *in, size_t n, uint64_t counter, uint32_t *cv) {
#if B3_X86
  if (level >= B3_LEVEL_AVX512) {
    for (; n >= 16; n -= 16, in += 16 * B3_CHUNK_LEN, counter += 16, cv += 16) chunks_avx512(in, counter, cv, B3_ROW);
  }
  if (level >= B3_LEVEL_AVX2) {
    for (; n >= 8; n -= 8, in += 8 * B3_CHUNK_LEN, counter += 8, cv += 8) chunks_avx2(in, counter, cv, B3_ROW);
  }
  if (level >= B3_LEVEL_SSE2) {
    for (; n >= 4; n -= 4, in += 4 * B3_CHUNK_LEN, counter += 4, cv += 4) chunks_sse2(in, counter, cv, B3_ROW);
  }
#else
  (void)level;
#endif
  for (; n > 0; n--, in += B3_CHUNK_LEN, counter++, cv++) chunks_scalar(in, counter, cv, B3_ROW);
}

/*
 * One tree level in place: parent q of columns 2q, 2q + 1 → column q, for q < n. Safe in
 * place: a pass reads all of its input columns before writing, and writes only columns
 * below those that later passes read.
 */
static void b3_parents_many(int level, uint32_t *cv, size_t n) {
  const uint32_t *in = cv;
  uint32_t *out = cv;
#if B3_X86
  if (level >= B3_LEVEL_AVX512) {
    for (; n >= 16; n -= 16, in += 32, out += 16) parents_avx512(in, out, B3_ROW);
  }
  if (level >= B3_LEVEL_AVX2) {
    for (; n >= 8; n -= 8, in += 16, out += 8) parents_avx2(in, out, B3_ROW);
  }
  if (level >= B3_LEVEL_SSE2) {
    for (; n >= 4; n -= 4, in += 8, out += 4) parents_sse2(in, out, B3_ROW);
  }
#else
  (void)level;
#endif
  for (; n > 0; n--, in += 2, out++) parents_scalar(in, out, B3_ROW);
}

/* Group CVs of `groups` complete groups at `data`, first chunk counter `first_chunk`. */
static void b3_group_cvs(int level, const uint8_t *data, size_t groups, uint64_t first_chunk, uint8_t *out) {
  uint32_t cv[8 * B3_ROW] __attribute__((aligned(64)));
  while (groups > 0) {
    size_t g = groups < B3_BATCH_GROUPS ? groups : B3_BATCH_GROUPS;
    size_t n = g * B3_GROUP_CHUNKS;
    /* 16 chunk CVs per group (chunk counter = chunk index), then the parent levels:
     * 8, 4, 2, 1 per group; pairs never straddle groups since every level is even per group */
    b3_chunks_many(level, data, n, first_chunk, cv);
    while (n > g) {
      n /= 2;
      b3_parents_many(level, cv, n);
    }
    for (size_t i = 0; i < g; i++) {
      for (size_t w = 0; w < 8; w++) b3_store_le32(out + B3_OUT_LEN * i + 4 * w, cv[w * B3_ROW + i]);
    }
    data += g * B3_GROUP_LEN;
    out += g * B3_OUT_LEN;
    first_chunk += (uint64_t)g * B3_GROUP_CHUNKS;
    groups -= g;
  }
}

/* ---- Node-API ------------------------------------------------------------ */

static int b3_max_level = -1;

static int b3_level(void) {
  if (b3_max_level < 0) b3_max_level = b3_detect_level();
  return b3_max_level;
}

#define B3_TWO_POW_53 9007199254740992.0

/* Throws (if nothing is pending yet) and returns NULL. */
static napi_value b3_throw(napi_env env, int range, const char *msg) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
    if (range) napi_throw_range_error(env, "ERR_BLAKE3_GROUP_INPUT", msg);
    else napi_throw_type_error(env, "ERR_BLAKE3_GROUP_INPUT", msg);
  }
  return NULL;
}

static int b3_get_bytes(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  void *ptr = NULL;
  size_t len = 0;
  if (napi_get_typedarray_info(env, value, &type, &len, &ptr, NULL, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = (uint8_t *)ptr; /* already adjusted by the view's byte offset */
  *length = len;
  return 1;
}

/* groupCVs(data: Uint8Array, firstChunk: number, out: Uint8Array, level?: number): undefined */
static napi_value b3_js_group_cvs(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3) return b3_throw(env, 0, "groupCVs(data, firstChunk, out[, level]): missing arguments");

  uint8_t *data = NULL, *out = NULL;
  size_t data_len = 0, out_len = 0;
  if (!b3_get_bytes(env, argv[0], &data, &data_len)) return b3_throw(env, 0, "groupCVs: data must be a Uint8Array");
  if (!b3_get_bytes(env, argv[2], &out, &out_len)) return b3_throw(env, 0, "groupCVs: out must be a Uint8Array");

  napi_valuetype vt;
  double first = -1;
  if (napi_typeof(env, argv[1], &vt) != napi_ok || vt != napi_number ||
      napi_get_value_double(env, argv[1], &first) != napi_ok) {
    return b3_throw(env, 0, "groupCVs: firstChunk must be a number");
  }
  if (!(first >= 0) || first > B3_TWO_POW_53 || first != (double)(uint64_t)first) {
    return b3_throw(env, 1, "groupCVs: firstChunk must be a non-negative safe integer");
  }
  uint64_t first_chunk = (uint64_t)first;
  if (first_chunk % B3_GROUP_CHUNKS != 0) return b3_throw(env, 1, "groupCVs: firstChunk is not a group boundary");
  if (data_len % B3_GROUP_LEN != 0) return b3_throw(env, 1, "groupCVs: data length is not a multiple of 16384");
  size_t groups = data_len / B3_GROUP_LEN;
  if (out_len / B3_OUT_LEN < groups) return b3_throw(env, 1, "groupCVs: out is too small (32 bytes per group)");
  if ((double)first_chunk + (double)groups * B3_GROUP_CHUNKS > B3_TWO_POW_53) {
    return b3_throw(env, 1, "groupCVs: chunk counter beyond 2^53");
  }

  int level = b3_level();
  if (argc >= 4) {
    napi_valuetype lt = napi_undefined;
    if (napi_typeof(env, argv[3], &lt) == napi_ok && lt == napi_number) {
      int32_t want = 0;
      if (napi_get_value_int32(env, argv[3], &want) != napi_ok) return NULL;
      if (want < level) level = want < 0 ? 0 : want;
    } else if (lt != napi_undefined) {
      return b3_throw(env, 0, "groupCVs: level must be a number");
    }
  }

  if (groups > 0) b3_group_cvs(level, data, groups, first_chunk, out);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn, level;
  if (napi_create_function(env, "groupCVs", NAPI_AUTO_LENGTH, b3_js_group_cvs, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "groupCVs", fn) != napi_ok) return NULL;
  if (napi_create_int32(env, b3_level(), &level) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "maxLevel", level) != napi_ok) return NULL;
  return exports;
}
