//! Byte-class bitmasks of 64-byte blocks and 16-byte lanes (bit `k` describes byte `k`): the
//! one place that uses CPU intrinsics.
//!
//! The framer finds newlines and the scanner finds quotes with these masks instead of a
//! byte-at-a-time or word-at-a-time search: one 16-byte lane costs a load, a compare and a
//! `pmovmskb` per class, after which each hit is a `trailing_zeros` away. A call to `memchr`
//! per short line costs more than that in setup alone.
//!
//! On x86_64 this uses SSE2, which every x86_64 CPU has (it is part of the target's baseline,
//! so no runtime detection is needed). Elsewhere a portable loop computes the same masks.

/// The classes of bytes in one 16-byte lane that the JSON scanner needs (bit `k` describes
/// byte `k`).
///
/// The scanner needs the position of every quote, but of the bytes that take it off its fast
/// route (backslashes, control bytes, non-ASCII bytes) only whether a line has any: those
/// share one mask, so a block costs two compares and a `pmovmskb` per 16 bytes for them
/// instead of three of each. A line with special bytes is then looked at byte by byte.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Classes {
    /// `"` bytes.
    pub quote: u16,
    /// Backslashes, control bytes (below 0x20) and bytes with the high bit set (not ASCII).
    pub special: u16,
}

/// Newline bits of `block`.
#[inline(always)]
pub fn newlines(block: &[u8; 64]) -> u64 {
    imp::newlines(block)
}

/// [`Classes`] of a 16-byte lane. The scanner works lane by lane rather than block by block
/// so that a line is looked at only as far as it goes (an 80-byte line is five lanes, not
/// two blocks of four).
#[inline(always)]
pub fn classes(lane: &[u8; 16]) -> Classes {
    imp::classes(lane)
}

/// Newline bits of the first `n` bytes of `bytes` (`n <= 64`; higher bits are zero), using
/// the fixed-size path whenever 64 bytes are readable.
#[inline(always)]
pub fn newlines_prefix(bytes: &[u8], n: usize) -> u64 {
    debug_assert!(n <= 64 && n <= bytes.len());
    match bytes.first_chunk::<64>() {
        Some(block) => newlines(block) & low_bits(n),
        None => bytes[..n].iter().rev().fold(0, |m, &c| m << 1 | u64::from(c == b'\n')),
    }
}

/// A mask of the low `n` bits (`n <= 64`).
#[inline(always)]
pub const fn low_bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod imp {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    use super::Classes;

    /// The four 16-byte lanes of a block.
    #[inline(always)]
    fn lanes(block: &[u8; 64]) -> [__m128i; 4] {
        let at = |k: usize| {
            // SAFETY: `k * 16 + 16 <= 64`, so the 16 bytes read are inside `block`;
            // `_mm_loadu_si128` has no alignment requirement; SSE2 is enabled for this
            // target (the `cfg` above).
            unsafe { _mm_loadu_si128(block.as_ptr().add(k * 16).cast()) }
        };
        [at(0), at(1), at(2), at(3)]
    }

    /// Bits of the bytes of `v` equal to `b`.
    #[inline(always)]
    fn eq(v: __m128i, b: u8) -> u64 {
        // SAFETY: register-only SSE2 instructions, enabled for this target.
        let m = unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))) };
        u64::from(m as u16)
    }

    #[inline(always)]
    pub(super) fn newlines(block: &[u8; 64]) -> u64 {
        let v = lanes(block);
        eq(v[0], b'\n') | eq(v[1], b'\n') << 16 | eq(v[2], b'\n') << 32 | eq(v[3], b'\n') << 48
    }

    #[inline(always)]
    pub(super) fn classes(lane: &[u8; 16]) -> Classes {
        // SAFETY: the 16 bytes read are `lane`; `_mm_loadu_si128` has no alignment
        // requirement; the rest are register-only SSE2 instructions, enabled for this target
        // (the `cfg` above).
        let (quote, special) = unsafe {
            let v = _mm_loadu_si128(lane.as_ptr().cast());
            let quote = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)));
            // Signed compare: 0x20 > byte holds for control bytes and for every byte with
            // the high bit set (negative as i8), so one compare finds both.
            let below = _mm_cmpgt_epi8(_mm_set1_epi8(0x20), v);
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            (quote, _mm_movemask_epi8(_mm_or_si128(below, backslash)))
        };
        Classes { quote: quote as u16, special: special as u16 }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
mod imp {
    use super::Classes;

    pub(super) fn newlines(block: &[u8; 64]) -> u64 {
        block.iter().rev().fold(0, |m, &c| m << 1 | u64::from(c == b'\n'))
    }

    pub(super) fn classes(lane: &[u8; 16]) -> Classes {
        let mut c = Classes::default();
        for (k, &b) in lane.iter().enumerate() {
            c.quote |= u16::from(b == b'"') << k;
            c.special |= u16::from(b == b'\\' || !(0x20..0x80).contains(&b)) << k;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn naive(block: &[u8; 64]) -> (u64, [Classes; 4]) {
        let bit = |f: &dyn Fn(u8) -> bool| {
            block.iter().enumerate().fold(0u64, |m, (k, &b)| m | u64::from(f(b)) << k)
        };
        let c = [0, 1, 2, 3].map(|k| Classes {
            quote: (bit(&|b| b == b'"') >> (16 * k)) as u16,
            special: (bit(&|b| matches!(b, b'\\' | 0..=0x1f | 0x80..=0xff)) >> (16 * k)) as u16,
        });
        (bit(&|b| b == b'\n'), c)
    }

    #[test]
    fn masks_match_a_byte_by_byte_model() {
        let mut rng = Rng::new(11);
        // Every byte value at every position, plus random blocks biased to the classes.
        let mut blocks: Vec<[u8; 64]> = (0..=255u8)
            .flat_map(|v| {
                (0..64).map(move |at| {
                    let mut b = [b'a'; 64];
                    b[at] = v;
                    b
                })
            })
            .collect();
        for _ in 0..2_000 {
            let mut b = [0u8; 64];
            for x in &mut b {
                *x = if rng.below(2) == 0 {
                    *rng.pick(b"\n\"\\\x1f\x20\x7f\x80\xffa{")
                } else {
                    rng.below(256) as u8
                };
            }
            blocks.push(b);
        }
        for b in &blocks {
            let (nl, c) = naive(b);
            assert_eq!(newlines(b), nl, "{b:?}");
            for (k, c) in c.iter().enumerate() {
                let lane = b[16 * k..].first_chunk::<16>().expect("inside the block");
                assert_eq!(classes(lane), *c, "{b:?}");
            }
            for n in [0, 1, 17, 63, 64] {
                assert_eq!(newlines_prefix(b, n), nl & low_bits(n));
                assert_eq!(newlines_prefix(&b[..n], n), nl & low_bits(n));
            }
        }
    }
}
