//! CPU kernels for Llama inference: quantized matrix multiplication (`matmul`), the weight and
//! activation block formats (`quant`) and the thread pool that splits the work (`pool`).
//!
//! Every kernel exists as portable scalar code and, on x86-64, as AVX2 (+FMA, F16C) and AVX-512
//! VNNI variants compiled with `#[target_feature]` and picked at run time, so a binary built for
//! the baseline x86-64 target still uses the vector units of the machine it runs on. On aarch64
//! the integer kernels have NEON variants, with and without the dot-product extension (`sdot`).
//! See README.md in this directory for the weight layout and measured speed.

pub(crate) mod bench;
pub(crate) mod f32_gemm;
pub(crate) mod matmul;
pub(crate) mod pool;
pub(crate) mod quant;

use std::sync::OnceLock;

/// The instruction set a kernel runs with; ordered from least to most capable. Only the
/// variants of the architecture being compiled exist, so no other one's value can reach a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Isa {
    /// Portable Rust; the reference every other path is tested against.
    Scalar,
    /// AVX2 + FMA + F16C.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 F/BW/VL + VNNI (on top of everything `Avx2` needs).
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
    /// Advanced SIMD (NEON), which every aarch64 CPU has; integer dot products by widening
    /// multiplies (`smull` + `sadalp`).
    #[cfg(target_arch = "aarch64")]
    Neon,
    /// NEON with the dot-product extension (Armv8.2 `sdot`: four byte products per 32-bit lane).
    #[cfg(target_arch = "aarch64")]
    NeonDotprod,
}

/// The environment variable that lowers the instruction set (`scalar`, `avx2`, `avx512` on
/// x86-64; `scalar`, `neon`, `dotprod` on aarch64).
pub(crate) const ISA_ENV: &str = "ALMANAC_CPU_ISA";

/// This architecture's instruction sets, least capable first.
const ALL: &[Isa] = &[
    Isa::Scalar,
    #[cfg(target_arch = "x86_64")]
    Isa::Avx2,
    #[cfg(target_arch = "x86_64")]
    Isa::Avx512Vnni,
    #[cfg(target_arch = "aarch64")]
    Isa::Neon,
    #[cfg(target_arch = "aarch64")]
    Isa::NeonDotprod,
];

impl Isa {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => "avx512",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "neon",
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDotprod => "dotprod",
        }
    }

    /// The instruction set a name stands for, if it is one of this architecture's.
    pub(crate) fn from_name(name: &str) -> Option<Isa> {
        let name = name.trim().to_ascii_lowercase();
        let name = match name.as_str() {
            "avx512vnni" => "avx512",
            "neon-dotprod" | "neondotprod" => "dotprod",
            other => other,
        };
        ALL.iter().copied().find(|isa| isa.name() == name)
    }

    /// Every instruction set this CPU can run, `Scalar` first.
    pub(crate) fn all_supported() -> Vec<Isa> {
        let best = detect();
        ALL.iter().copied().filter(|isa| *isa <= best).collect()
    }
}

/// The instruction set the kernels use: the best the CPU has, lowered by `ALMANAC_CPU_ISA`
/// (asking for more than the CPU has gets what it has). Decided once per process.
pub(crate) fn isa() -> Isa {
    static CHOSEN: OnceLock<Isa> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let requested = std::env::var(ISA_ENV).ok().and_then(|v| Isa::from_name(&v));
        choose(detect(), requested)
    })
}

fn choose(detected: Isa, requested: Option<Isa>) -> Isa {
    requested.map_or(detected, |r| r.min(detected))
}

/// The best instruction set this CPU supports.
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
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            return Isa::NeonDotprod;
        }
        if std::arch::is_aarch64_feature_detected!("neon") {
            return Isa::Neon;
        }
    }
    Isa::Scalar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_ignored() {
        for &isa in ALL {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::from_name("fast"), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_names_are_read_and_arm_ones_ignored() {
        assert_eq!(Isa::from_name(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::from_name("avx512vnni"), Some(Isa::Avx512Vnni));
        assert_eq!(Isa::from_name("neon"), None);
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn arm_names_are_read_and_x86_ones_ignored() {
        assert_eq!(Isa::from_name(" NEON "), Some(Isa::Neon));
        assert_eq!(Isa::from_name("neon-dotprod"), Some(Isa::NeonDotprod));
        assert_eq!(Isa::from_name("avx2"), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn an_override_only_lowers_the_detected_isa() {
        assert_eq!(choose(Isa::Avx2, Some(Isa::Scalar)), Isa::Scalar);
        assert_eq!(choose(Isa::Avx2, Some(Isa::Avx512Vnni)), Isa::Avx2);
        assert_eq!(choose(Isa::Avx512Vnni, None), Isa::Avx512Vnni);
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn an_override_only_lowers_the_detected_isa() {
        assert_eq!(choose(Isa::NeonDotprod, Some(Isa::Neon)), Isa::Neon);
        assert_eq!(choose(Isa::Neon, Some(Isa::NeonDotprod)), Isa::Neon);
        assert_eq!(choose(Isa::Neon, Some(Isa::Scalar)), Isa::Scalar);
        assert_eq!(choose(Isa::NeonDotprod, None), Isa::NeonDotprod);
    }

    /// scripts/test-aarch64.sh runs these tests on emulated CPUs and names the instruction set
    /// each must be detected as, so that a run is known to have tested the kernels it meant to.
    #[test]
    fn detection_finds_the_instruction_set_the_runner_expects() {
        if let Ok(want) = std::env::var("ALMANAC_EXPECT_ISA") {
            assert_eq!(detect().name(), want);
        }
    }

    #[test]
    fn supported_isas_start_with_scalar_and_end_with_the_detected_one() {
        let all = Isa::all_supported();
        assert_eq!(all[0], Isa::Scalar);
        assert_eq!(*all.last().unwrap(), detect());
        assert!(isa() <= detect());
    }
}
