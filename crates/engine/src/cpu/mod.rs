//! CPU kernels: instruction-set detection shared by every kernel.
//!
//! Minimal version from the K-quants branch; the kernels branch's cpu/mod.rs supersedes it.

pub(crate) mod quant;

use std::sync::OnceLock;

/// The SIMD level a kernel runs at. Kernels take it as a parameter so tests can run every path the
/// CPU supports plus the scalar reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    Scalar,
    /// AVX2 + FMA + F16C.
    Avx2,
    /// AVX-512 F/BW/VL + VNNI (with everything Avx2 has).
    Avx512Vnni,
}

impl Isa {
    /// Every level this CPU can run, lowest first (for tests and benchmarks).
    pub(crate) fn all_supported() -> Vec<Isa> {
        let best = detect();
        [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni]
            .into_iter()
            .filter(|isa| *isa <= best)
            .collect()
    }
}

/// The best level this CPU supports.
pub(crate) fn detect() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        let avx512 = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni");
        if avx2 && avx512 {
            return Isa::Avx512Vnni;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// The level kernels run at: detected once, lowered by ALMANAC_CPU_ISA=scalar|avx2|avx512.
pub(crate) fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = detect();
        let asked = match std::env::var("ALMANAC_CPU_ISA").as_deref() {
            Ok("scalar") => Isa::Scalar,
            Ok("avx2") => Isa::Avx2,
            _ => best,
        };
        asked.min(best)
    })
}
