//! Finding the set bit of a given rank in a 64-bit word: the step a coded
//! run's lookup takes once to reach its bucket. Two ways, and which one this
//! CPU runs best, decided once.

/// Position of the set bit of rank `rank` (0-based) in `x`, which has more
/// than `rank` set bits: the bytes' running counts in one multiply find its
/// byte (Vigna's broadword select), then `SELECT_IN_BYTE` finds it there.
#[inline]
pub fn select64(x: u64, rank: u32) -> u32 {
    debug_assert!(x.count_ones() > rank);
    const ONES: u64 = 0x0101_0101_0101_0101;
    const TOPS: u64 = 0x8080_8080_8080_8080;
    let mut s = x - ((x >> 1) & 0x5555_5555_5555_5555);
    s = (s & 0x3333_3333_3333_3333) + ((s >> 2) & 0x3333_3333_3333_3333);
    s = (s + (s >> 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    // Byte i: the set bits of bytes 0 ..= i (at most 64: no carries).
    let sums = s.wrapping_mul(ONES);
    // Byte i's top bit: the wanted bit lies past byte i.
    let past = (((u64::from(rank) * ONES) | TOPS) - sums) & TOPS;
    // The bytes past which it lies are the low ones (the sums ascend): the
    // highest top bit set ends them.
    let shift = 64 - past.leading_zeros();
    let before = ((sums << 8) >> shift) & 0xFF;
    let byte = (x >> shift) & 0xFF;
    shift + u32::from(SELECT_IN_BYTE[byte as usize][(u64::from(rank) - before) as usize])
}

/// `SELECT_IN_BYTE[b][r]`: the position of the set bit of rank r in byte b
/// (8 when b has no more than r set bits).
static SELECT_IN_BYTE: [[u8; 8]; 256] = {
    let mut table = [[8u8; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let (mut bit, mut rank) = (0, 0);
        while bit < 8 {
            if b >> bit & 1 == 1 {
                table[b][rank] = bit as u8;
                rank += 1;
            }
            bit += 1;
        }
        b += 1;
    }
    table
};

/// `select64` in one instruction: PDEP deposits a one at the rank-th set
/// bit of `x` (3 cycles where it is in silicon; see `Level::Pdep`).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "bmi2")]
pub fn select64_pdep(x: u64, rank: u32) -> u32 {
    debug_assert!(x.count_ones() > rank);
    // `_pdep_u64` is a safe function in the compilers that made intrinsics
    // safe inside their feature, an unsafe one in older ones (the MSRV's).
    #[allow(unused_unsafe)]
    // SAFETY: this function is compiled for BMI2, so its callers run on a
    // CPU that has it.
    let deposited = unsafe { std::arch::x86_64::_pdep_u64(1 << rank, x) };
    deposited.trailing_zeros()
}

/// `select64`, by PDEP when `PDEP`.
///
/// # Safety
/// With `PDEP`, the CPU must have BMI2.
#[inline(always)]
pub unsafe fn select64_by<const PDEP: bool>(x: u64, rank: u32) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if PDEP {
        // SAFETY: the caller's contract: this CPU has BMI2.
        return unsafe { select64_pdep(x, rank) };
    }
    select64(x, rank)
}

/// What a lookup can use on this CPU beyond the x86-64 baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Level {
    /// Neither: bits are counted and selected by arithmetic.
    Base = 1,
    /// POPCNT counts a word's bits in one instruction (every x86-64 CPU
    /// since 2008); selecting stays broadword.
    Popcnt = 2,
    /// POPCNT and a fast PDEP (BMI2 on Intel since 2013, AMD since Zen 3).
    Pdep = 3,
}

/// This CPU's level, detected at the first call.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn level() -> Level {
    use std::sync::atomic::{AtomicU8, Ordering};
    static LEVEL: AtomicU8 = AtomicU8::new(0);
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Base,
        2 => Level::Popcnt,
        3 => Level::Pdep,
        _ => {
            let level = detect();
            LEVEL.store(level as u8, Ordering::Relaxed);
            level
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if !std::arch::is_x86_feature_detected!("popcnt") {
        Level::Base
    } else if std::arch::is_x86_feature_detected!("bmi2") && !pdep_in_microcode() {
        Level::Pdep
    } else {
        Level::Popcnt
    }
}

/// AMD's cores before Zen 3, and Hygon's built on them, have BMI2 but run
/// PDEP in microcode: tens to hundreds of cycles, slower than `select64`.
#[cfg(target_arch = "x86_64")]
fn pdep_in_microcode() -> bool {
    use std::arch::x86_64::__cpuid;
    // `__cpuid` is a safe function in newer compilers, an unsafe one in the MSRV's.
    #[allow(unused_unsafe)]
    // SAFETY: every x86-64 CPU has CPUID, and leaves 0 and 1 always exist.
    let (vendor, info) = unsafe { (__cpuid(0), __cpuid(1)) };
    let mut name = [0u8; 12];
    name[..4].copy_from_slice(&vendor.ebx.to_le_bytes());
    name[4..8].copy_from_slice(&vendor.edx.to_le_bytes());
    name[8..].copy_from_slice(&vendor.ecx.to_le_bytes());
    let base = (info.eax >> 8) & 0xF;
    let family = if base == 0xF { base + ((info.eax >> 20) & 0xFF) } else { base };
    // Zen 1 and 2 are family 0x17, Hygon's 0x18; Zen 3 starts 0x19.
    (&name == b"AuthenticAMD" || &name == b"HygonGenuine") && family < 0x19
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn select_finds_the_ranked_bit(x in 1..=u64::MAX, rank in 0u32..64) {
            let rank = rank % x.count_ones();
            let want = (0..64).filter(|&b| x >> b & 1 == 1).nth(rank as usize);
            prop_assert_eq!(Some(select64(x, rank)), want);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("bmi2") {
                // SAFETY: this CPU has BMI2 (just checked).
                prop_assert_eq!(Some(unsafe { select64_pdep(x, rank) }), want);
            }
        }
    }
}
